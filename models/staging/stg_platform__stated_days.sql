select
    day as stated_day,
    month
from {{ source('platform', 'stated_days') }}
