{#-
    The day, ISO week and month containing the run date, moved by what the run date changed: weekly and
    monthly figures are sums of daily ones (never re-priced), kept up to date by adding each day's change
    instead of summing the period again, so a run costs what its day changed, not the period's size.

    periods_moved_by_run_date(run_date_rows, published_rows, keys, measures) -> the rows of the periods
    for every key whose run-date rows changed: the published period row plus (the run's rows - the
    published rows of the run date), with payable_rows, how many payable rows make the period row (0: it
    goes away). The published rows are the payable day partitions (fct_video_payable_daily and
    fct_video_ad_payable_daily), published with the periods in the same transaction, so that a period
    is always the sum of the published days it covers, whatever was published before (a rebuild starts
    from none of either). Its own published periods are read through {{ this }}.
-#}
{% macro periods_moved_by_run_date(run_date_rows, published_rows, keys, measures) -%}
    {%- set slice_exists = execute and load_relation(this) is not none -%}
    {%- if slice_exists -%}
        {% do require_published_days(published_rows) %}
    {%- endif -%}
    {%- set all_measures = ['payable_rows'] + measures -%}
    with run_date_new as (
        select {{ keys | join(', ') }}, count(*) as payable_rows
            {%- for measure in measures %}, sum({{ measure }}) as {{ measure }}{% endfor %}
        from ({{ run_date_rows }}) as rows where settled_on = {{ run_date() }}
        group by {{ keys | join(', ') }}
    ),

    run_date_published as (
        select {{ keys | join(', ') }}, count(*) as payable_rows
            {%- for measure in measures %}, sum({{ measure }}) as {{ measure }}{% endfor %}
        from {{ published_rows }} where settled_on = {{ run_date() }}
        group by {{ keys | join(', ') }}
    ),

    changes as (
        select
            {%- for key in keys %}
            coalesce(new.{{ key }}, old.{{ key }}) as {{ key }},
            {%- endfor %}
            {%- for measure in all_measures %}
            coalesce(new.{{ measure }}, 0) - coalesce(old.{{ measure }}, 0) as {{ measure }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        from run_date_new as new
        full join run_date_published as old on {% for key in keys %}old.{{ key }} = new.{{ key }}{% if not loop.last %} and {% endif %}{% endfor %}
        where {% for measure in all_measures %}coalesce(new.{{ measure }}, 0) <> coalesce(old.{{ measure }}, 0){% if not loop.last %} or {% endif %}{% endfor %}
    ),

    periods as (
        {%- for period in ['day', 'week', 'month'] %}
        select '{{ period }}'::text as period, {{ period_start(period, run_date()) }} as period_start
        {% if not loop.last %}union all{% endif %}
        {%- endfor %}
    ),

    published_periods as (
        {%- if slice_exists %}
        select * from {{ this }} where {{ is_run_date_period() }}
        {%- else %}
        select null::text as period, null::date as period_start
            {%- for key in keys %}, null::bigint as {{ key }}{% endfor %}
            {%- for measure in all_measures %}, null::numeric as {{ measure }}{% endfor %}
        where false
        {%- endif %}
    )

    select
        periods.period,
        periods.period_start,
        {%- for key in keys %}
        changes.{{ key }},
        {%- endfor %}
        {%- for measure in all_measures %}
        coalesce(published.{{ measure }}, 0) + changes.{{ measure }} as {{ measure }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from changes
    cross join periods
    left join published_periods as published
        on published.period = periods.period and published.period_start = periods.period_start
        {%- for key in keys %} and published.{{ key }} = changes.{{ key }}{% endfor %}
{%- endmacro %}

{#- The run periods as readers will see them once the run publishes: the published rows of the day, ISO
    week and month containing the run date, with the rows the run changed in place of theirs. -#}
{% macro run_periods_as_published(model, keys) -%}
    (
    select * from {{ staged(model) }} where payable_rows > 0
    union all
    select * from {{ model }} as published
    where {{ is_run_date_period('published.period', 'published.period_start') }}
      and not exists (
          select 1 from {{ staged(model) }} as changed
          where changed.period = published.period and changed.period_start = published.period_start
          {%- for key in keys %} and changed.{{ key }} = published.{{ key }}{% endfor %})
    )
{%- endmacro %}

{#- Stops a run whose published periods were summed from days the published day partitions no longer
    have (the table dropped by hand, say): moving the periods by the run date would count those days again. -#}
{% macro require_published_days(published_rows) %}
    {%- set orphaned = run_query(
            'select exists (select 1 from ' ~ this ~ ' where payable_rows > 0)'
            ~ ' and not exists (select 1 from ' ~ published_rows ~ ')') -%}
    {%- if orphaned.columns[0].values()[0] -%}
        {{ exceptions.raise_compiler_error(
            this.identifier ~ " holds periods summed from days that " ~ published_rows.identifier
            ~ " no longer has: settle every day again, together: settlement run --rebuild") }}
    {%- endif -%}
{% endmacro %}
