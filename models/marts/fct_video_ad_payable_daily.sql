{{ config(materialized='view') }}

-- Ad payouts per (video, ad) and day as sellers are paid them: open days as settled, closed days as
-- they were closed.
{{ video_ad_payable_rows(ref('fct_video_ad_daily')) }}
