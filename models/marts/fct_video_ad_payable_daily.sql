{{ config(materialized='day_partition', publish=true) }}

-- Ad payouts per (video, ad) for the run date as sellers are paid them: as settled while the day is open,
-- as it was closed once it is closed.
{{ video_ad_payable_rows(staged(ref('fct_video_ad_daily'))) }}
