{{ config(materialized='view') }}
-- depends_on: {{ ref('price_tiers') }}

-- Each tier covers the zero-based view positions [lower_bound, upper_bound) of its kind: the seed's
-- tiers, or, when a closed day is settled again under the rules it was closed under, the tiers recorded
-- with it (var price_tiers: [[kind, lower_bound, unit_price], ...]).
with tiers as (
    {%- set given = given_price_tiers() %}
    {%- if given %}
    select kind, lower_bound, unit_price
    from (values
        {%- for kind, lower_bound, unit_price in given %}
        ({{ sql_text(kind) }}::text, {{ lower_bound | int }}::bigint, {{ sql_text(unit_price) }}::numeric){% if not loop.last %},{% endif %}
        {%- endfor %}
    ) as given (kind, lower_bound, unit_price)
    {%- else %}
    select kind, lower_bound, unit_price from {{ ref('price_tiers') }}
    {%- endif %}
)

select
    kind,
    lower_bound,
    coalesce(
        lead(lower_bound) over (partition by kind order by lower_bound),
        9223372036854775807
    ) as upper_bound,
    unit_price
from tiers
