select
    day as settled_day,
    run_id,
    settled_at
from {{ source('platform', 'settled_days') }}
