select
    month,
    issued_at,
    issued_by,
    statements
from {{ source('platform', 'payment_months') }}
