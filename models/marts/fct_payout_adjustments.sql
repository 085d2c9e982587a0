{{ config(materialized='day_partition', partition_column='booked_on', publish=true) }}

-- Credit notes: when a closed day's payouts come out different on a later settlement (late events),
-- the difference per video is booked on the run date, if that day is open, as an adjustment that
-- belongs to the closed day: what the engine settles now for it, less what was paid with it, less what
-- other days booked for it already. A rerun of an open day books the same again, nothing twice. A
-- closed run date keeps the adjustments it was closed (and paid) with, whatever happens later.
{%- set booked_before = execute and load_relation(this) is not none %}

with run_day_is_closed as (
    select exists(
        select 1 from {{ ref('stg_platform__closed_days') }}
        where closed_day = {{ run_date() }}
    ) as is_closed
),

recent_closed_days as (
    select closed_day
    from {{ ref('stg_platform__closed_days') }}
    where closed_day < {{ run_date() }}
        and closed_day >= {{ run_date() }} - {{ var('late_event_horizon_days') | int }}
),

restated as (
    select
        settled_on as belongs_to,
        video_id,
        seller_id,
        payout
    from {{ ref('fct_video_daily') }}
    where settled_on in (select recent_closed_days.closed_day from recent_closed_days)
),

paid as (
    select
        settled_on as belongs_to,
        video_id,
        seller_id,
        payout
    from {{ ref('stg_platform__closed_video_payouts') }}
    where settled_on in (select recent_closed_days.closed_day from recent_closed_days)
),

booked as (
    {%- if booked_before %}
    select
        belongs_to,
        video_id,
        seller_id,
        sum(payout_delta) as payout
    from {{ this }}
    where booked_on <> {{ run_date() }}
        and belongs_to in (select recent_closed_days.closed_day from recent_closed_days)
    group by belongs_to, video_id, seller_id
    {%- else %}
    select
        null::date as belongs_to,
        null::bigint as video_id,
        null::bigint as seller_id,
        null::numeric as payout
    where false
    {%- endif %}
),

differences as (
    select
        coalesce(restated.belongs_to, paid.belongs_to, booked.belongs_to) as belongs_to,
        coalesce(restated.video_id, paid.video_id, booked.video_id) as video_id,
        coalesce(restated.seller_id, paid.seller_id, booked.seller_id) as seller_id,
        coalesce(restated.payout, 0) - coalesce(paid.payout, 0) - coalesce(booked.payout, 0) as payout_delta
    from restated
    full join paid
        on paid.belongs_to = restated.belongs_to and paid.video_id = restated.video_id
    full join booked
        on booked.belongs_to = coalesce(restated.belongs_to, paid.belongs_to)
            and booked.video_id = coalesce(restated.video_id, paid.video_id)
)

select
    {{ run_date() }} as booked_on,
    differences.belongs_to,
    differences.video_id,
    differences.seller_id,
    differences.payout_delta,
    'late events changed a closed day'::text as reason
from differences
cross join run_day_is_closed
where not run_day_is_closed.is_closed
    and differences.payout_delta <> 0

union all

select
    booked_on,
    belongs_to,
    video_id,
    seller_id,
    payout_delta,
    reason
from {{ ref('stg_platform__closed_payout_adjustments') }}
where booked_on = {{ run_date() }}
