{{ config(materialized='day_partition', session_settings=pair_pass_settings(), distributed_by='user_id') }}
{{ pair_pass(shard=1, shards=2) }}
