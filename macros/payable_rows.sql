{#-
    What sellers are paid for the run date: open days as settled, closed days as they were closed, and
    adjustments (credit notes for closed days) on the day they were booked. fct_video_payable_daily and
    fct_video_ad_payable_daily keep these rows per day, published with the day: the periods (day, ISO
    week, month) are the sums of the published payable rows, moved by each publish of a day by what it
    changed (periods_moved_by_run_date).
-#}
{% macro video_payable_rows(video_daily, adjustments) -%}
    select settled_on, video_id, seller_id, views, watch_seconds, ad_views, video_payout, ad_payout,
           0::numeric as adjustment
    from {{ video_daily }}
    where settled_on = {{ run_date() }}
      and not {{ run_date_is_closed() }}

    union all

    select settled_on, video_id, seller_id, views, watch_seconds, ad_views, video_payout, ad_payout,
           0::numeric as adjustment
    from {{ ref('stg_platform__closed_video_payouts') }}
    where settled_on = {{ run_date() }}

    union all

    select booked_on as settled_on, video_id, seller_id, 0::bigint, 0::bigint, 0::bigint, 0::numeric, 0::numeric,
           payout_delta as adjustment
    from {{ adjustments }}
    where booked_on = {{ run_date() }}
{%- endmacro %}

{% macro video_ad_payable_rows(video_ad_daily) -%}
    select settled_on, video_id, ad_id, seller_id, ad_views, ad_payout
    from {{ video_ad_daily }}
    where settled_on = {{ run_date() }}
      and not {{ run_date_is_closed() }}

    union all

    select settled_on, video_id, ad_id, seller_id, ad_views, ad_payout
    from {{ ref('stg_platform__closed_video_ad_payouts') }}
    where settled_on = {{ run_date() }}
{%- endmacro %}

{% macro run_date_is_closed() -%}
    exists (select 1 from {{ ref('stg_platform__closed_days') }} where closed_day = {{ run_date() }})
{%- endmacro %}
