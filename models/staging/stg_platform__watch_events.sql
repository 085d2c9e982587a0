select
    event_id,
    kind,
    user_id,
    video_id,
    occurred_at,
    position_seconds,
    watched_seconds,
    received_at
from {{ source('platform', 'watch_events') }}
