{{ config(materialized='day_partition', partition_column='booked_on') }}

-- Credit notes: when a closed day's payouts come out different on a later settlement (late events),
-- the difference per video is booked on the run date, if that day is open, as an adjustment that
-- belongs to the closed day. What earlier runs booked already is taken into account, so a rerun of
-- the run date books the same again and nothing twice.
{%- set booked_before = execute and not flags.FULL_REFRESH and load_relation(this) is not none %}

with run_day_is_open as (
    select not exists (
        select 1 from {{ ref('stg_platform__closed_days') }} where closed_day = {{ run_date() }}
    ) as is_open
),

recent_closed_days as (
    select closed_day
    from {{ ref('stg_platform__closed_days') }}
    where closed_day < {{ run_date() }}
      and closed_day >= {{ run_date() }} - {{ var('late_event_horizon_days') | int }}
),

restated as (
    select settled_on as belongs_to, video_id, seller_id, payout
    from {{ ref('fct_video_daily') }}
    where settled_on in (select closed_day from recent_closed_days)
),

paid as (
    select settled_on as belongs_to, video_id, seller_id, payout
    from {{ ref('stg_platform__closed_video_payouts') }}
    where settled_on in (select closed_day from recent_closed_days)
),

booked as (
    {%- if booked_before %}
    select belongs_to, video_id, seller_id, sum(payout_delta) as payout
    from {{ this }}
    where booked_on <> {{ run_date() }}
      and belongs_to in (select closed_day from recent_closed_days)
    group by belongs_to, video_id, seller_id
    {%- else %}
    select null::date as belongs_to, null::bigint as video_id, null::bigint as seller_id, null::numeric as payout
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
    belongs_to,
    video_id,
    seller_id,
    payout_delta,
    'late events changed a closed day'::text as reason
from differences
cross join run_day_is_open
where run_day_is_open.is_open
  and payout_delta <> 0
