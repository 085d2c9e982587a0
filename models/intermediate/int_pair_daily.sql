{{ config(materialized='view_in_place') }}

-- The day's (user, video) pairs, from the two shards of the ordered pass (pair_pass): one per core.
-- (every column of the shards, as pair_pass makes them: no list to keep here, hence the noqa)
select *  -- noqa: AM04
from {{ pair_days() }} as pairs
