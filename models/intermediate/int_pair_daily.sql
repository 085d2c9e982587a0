{{ config(materialized='view_in_place') }}

-- The day's (user, video) pairs, from the two shards of the ordered pass (pair_pass): one per core.
select * from {{ pair_days() }} as pairs
