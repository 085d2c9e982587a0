-- The next month to issue statements for: the month after the last one issued, or, before any, the month
-- of the first closed day. Months are issued in order, each once every day of it is closed, counting from
-- the platform's first settled day (days before it were never part of the platform's history: the engine
-- settles from the first day with events on, and never asks to settle a day before it).
with last_issued as (
    select max(month) as month from {{ ref('stg_platform__payment_months') }}
),

first_closed as (
    select min(closed_day) as day from {{ ref('stg_platform__closed_days') }}
),

next_month as (
    select
        coalesce(
            (last_issued.month + interval '1 month')::date,
            date_trunc('month', first_closed.day)::date
        ) as month
    from last_issued cross join first_closed
),

bounds as (
    select
        next_month.month,
        (next_month.month + interval '1 month' - interval '1 day')::date as month_end,
        (select min(settled.settled_day) from {{ ref('stg_platform__settled_days') }} as settled) as first_settled_day
    from next_month
    where next_month.month is not null
),

open_days as (
    select
        bounds.month,
        days.day_start::date as day
    from bounds
    cross join
        generate_series(
            greatest(bounds.month, coalesce(bounds.first_settled_day, bounds.month)), bounds.month_end, interval '1 day'
        ) as days (day_start)
    where not exists (
            select 1 from {{ ref('stg_platform__closed_days') }} as closed
            where closed.closed_day = days.day_start::date
        )
)

select
    bounds.month,
    bounds.month_end,
    bounds.first_settled_day,
    (select count(*) from open_days) as open_days,
    (select min(open_days.day) from open_days) as first_open_day,
    (select max(open_days.day) from open_days) as last_open_day
from bounds
