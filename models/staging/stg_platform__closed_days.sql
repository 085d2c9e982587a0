select
    day as closed_day,
    closed_at,
    closed_by
from {{ source('platform', 'closed_days') }}
