{{ config(materialized='view') }}

-- What sellers are paid per video and day: open days as settled, closed days as they were closed,
-- and adjustments (credit notes for closed days) on the open day they were booked.
{{ video_payable_rows(ref('fct_video_daily'), ref('fct_payout_adjustments')) }}
