select
    id as ad_id,
    title,
    duration_seconds,
    contract_start,
    contract_end,
    status
from {{ source('platform', 'ads') }}
