-- A video's ad payout on a day is the sum of the truncated ad parts of its (video, ad) pairs (in a
-- settlement run: the run date's rows as the run built them, before they are published).
{%- set in_run = is_settlement_run() or var('run_date', none) is not none %}
with pairs as (
    select settled_on, video_id, sum(ad_payout) as ad_payout, sum(ad_views) as ad_views
    from {{ staged(ref('fct_video_ad_daily')) }}
    {% if in_run %}where settled_on = {{ run_date() }}{% endif %}
    group by settled_on, video_id
)

select videos.settled_on, videos.video_id, videos.ad_payout, pairs.ad_payout as pairs_ad_payout
from {{ staged(ref('fct_video_daily')) }} as videos
full join pairs on pairs.settled_on = videos.settled_on and pairs.video_id = videos.video_id
where {% if in_run %}coalesce(videos.settled_on, pairs.settled_on) = {{ run_date() }} and{% endif %}
    (videos.video_id is null
     or videos.ad_payout is distinct from coalesce(pairs.ad_payout, 0)
     or videos.ad_views is distinct from coalesce(pairs.ad_views, 0))
