{{ config(materialized='view') }}

-- The day's (user, video) pairs, from the two shards of the ordered pass (pair_pass): one per core.
select * from {{ ref('int_pair_daily_shard_0') }}
union all
select * from {{ ref('int_pair_daily_shard_1') }}
