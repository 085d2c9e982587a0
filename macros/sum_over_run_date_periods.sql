{#-
    The rows of a daily model summed over each period (day, ISO week, month) containing the run date:
    weekly and monthly figures are sums of daily ones, never re-priced.
-#}
{% macro sum_over_run_date_periods(daily_model, keys, measures) -%}
    {%- for period in ['day', 'week', 'month'] %}
    select
        '{{ period }}'::text as period,
        {{ period_start(period, run_date()) }} as period_start,
        {{ keys | join(', ') }},
        {%- for measure in measures %}
        sum({{ measure }}) as {{ measure }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ daily_model }}
    where settled_on >= {{ period_start(period, run_date()) }}
      and settled_on < {{ period_end(period, run_date()) }}
    group by {{ keys | join(', ') }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}
