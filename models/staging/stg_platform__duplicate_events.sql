select
    id as duplicate_id,
    source,
    event_id,
    occurred_at,
    received_at,
    raw_row
from {{ source('platform', 'duplicate_events') }}
