-- Returned transfers that no statement has taken back into its balance yet: the seller's next statement
-- takes them (returned_in).
select
    returns.return_id,
    returns.seller_id,
    returns.amount
from {{ ref('stg_platform__payment_returns') }} as returns
where not exists (
        select 1 from {{ ref('stg_platform__statement_returns') }} as taken
        where taken.return_id = returns.return_id
    )
