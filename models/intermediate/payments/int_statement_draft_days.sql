-- The closed days the next month's statements take: every closed day up to the month's end that no
-- earlier month's statements took (normally the month's own days; a day before the platform's first
-- settled day that was settled and closed later lands here too, so no closed day is ever left out).
select
    closed.closed_day as day,
    next_month.month
from {{ ref('stg_platform__closed_days') }} as closed
cross join {{ ref('int_statement_next') }} as next_month
where closed.closed_day <= next_month.month_end
    and not exists (
        select 1 from {{ ref('stg_platform__stated_days') }} as stated
        where stated.stated_day = closed.closed_day
    )
