select
    id as user_id,
    email,
    username,
    role,
    role = 'SELLER' as is_seller,
    created_at
from {{ source('platform', 'users') }}
