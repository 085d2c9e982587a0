{#-
    What sellers are paid per day: open days as settled, closed days as they were closed, and
    adjustments (credit notes for closed days) on the day they were booked. The payable views read the
    published marts; the period marts read them for the other days of the period and, for the run date,
    what this run settled (staged, not published yet).
-#}
{% macro video_payable_rows(video_daily, adjustments) -%}
    select settled_on, video_id, seller_id, views, watch_seconds, ad_views, video_payout, ad_payout,
           0::numeric as adjustment
    from {{ video_daily }}
    -- (not in, a hashed subplan: an anti-join on the run date estimated every row gone, and the period
    -- marts then joined their published rows in a nested loop, minutes at 50,000 videos)
    where settled_on not in (select closed_day from {{ ref('stg_platform__closed_days') }})

    union all

    select settled_on, video_id, seller_id, views, watch_seconds, ad_views, video_payout, ad_payout,
           0::numeric as adjustment
    from {{ ref('stg_platform__closed_video_payouts') }}

    union all

    select booked_on as settled_on, video_id, seller_id, 0::bigint, 0::bigint, 0::bigint, 0::numeric, 0::numeric,
           payout_delta as adjustment
    from {{ adjustments }}
{%- endmacro %}

{% macro video_ad_payable_rows(video_ad_daily) -%}
    select settled_on, video_id, ad_id, seller_id, ad_views, ad_payout
    from {{ video_ad_daily }}
    -- (not in, a hashed subplan: an anti-join on the run date estimated every row gone, and the period
    -- marts then joined their published rows in a nested loop, minutes at 50,000 videos)
    where settled_on not in (select closed_day from {{ ref('stg_platform__closed_days') }})

    union all

    select settled_on, video_id, ad_id, seller_id, ad_views, ad_payout
    from {{ ref('stg_platform__closed_video_ad_payouts') }}
{%- endmacro %}

