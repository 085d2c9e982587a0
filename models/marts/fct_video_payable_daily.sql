{{ config(materialized='day_partition', publish=true, indexes=[{'columns': ['seller_id', 'settled_on']}]) }}

-- What sellers are paid per video for the run date: as settled while the day is open, as it was closed
-- once it is closed, and the adjustments (credit notes for closed days) booked on it.
{{ video_payable_rows(staged(ref('fct_video_daily')), staged(ref('fct_payout_adjustments'))) }}
