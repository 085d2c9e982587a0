select
    return_id,
    statement_id
from {{ source('platform', 'statement_returns') }}
