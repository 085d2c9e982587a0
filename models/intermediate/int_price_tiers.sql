{{ config(materialized='view_in_place') }}

-- Each tier covers the zero-based view positions [lower_bound, upper_bound) of its kind.
select
    kind,
    lower_bound,
    coalesce(
        lead(lower_bound) over (partition by kind order by lower_bound),
        9223372036854775807
    ) as upper_bound,
    unit_price
from {{ ref('price_tiers') }}
