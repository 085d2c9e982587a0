{#- Step 2 of pair_pass, resolve: each of `pairs` against the pair's state before the run date (its last
    counted event within the view window, and the credit that left), and whether every candidate counts as
    it is. Gives `resolved`. -#}
{% macro pair_pass_resolve() -%}
{%- set prior_days = earlier_days_of(this.identifier) -%}
prior_counted as (
    {%- if prior_days is not none %}
    select distinct on (user_id, video_id) user_id, video_id, last_counted_at as prior_at, credit_left as prior_left
    from {{ prior_days }}
    where settled_on >= {{ run_date() }} - {{ view_window_days() }}
      and settled_on < {{ run_date() }}
      and last_counted_at > {{ day_start(0) }} - {{ view_window() }}
    order by user_id, video_id, last_counted_at desc
    {%- else %}
    select null::bigint as user_id, null::bigint as video_id, null::timestamptz as prior_at, null::interval as prior_left
    where false
    {%- endif %}
),

resolved as (
    select
        opened.*,
        -- every candidate counts: exact as it is (see above)
        opened.candidates = 0 or (opened.credit_holds_within and not opened.window_lapses_within
                                  and opened.lowest_mark + opened.opening_credit >= opened.first_at) as all_count
    from (
        select
            pairs.*,
            prior_counted.prior_at,
            prior_counted.prior_left,
            {{ watch_credit('prior_counted.prior_at', 'prior_counted.prior_left', 'pairs.first_at') }} as opening_credit
        from pairs
        left join prior_counted on prior_counted.user_id = pairs.user_id and prior_counted.video_id = pairs.video_id
    ) as opened
)
{%- endmacro %}
