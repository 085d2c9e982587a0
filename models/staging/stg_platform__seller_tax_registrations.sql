select
    id as registration_id,
    seller_id,
    business_number,
    registered_at,
    registered_by
from {{ source('platform', 'seller_tax_registrations') }}
