{#-
    Data tests on the day-partitioned and period tables check only what the run wrote: a test's `where`
    may say __run_date__ (the run date) or __run_periods__ (the day, ISO week and month containing it).
    These are expanded at run time, not parse time. In a settlement run, a published model is tested
    where the run built it (staged, before it is published: a failing test stops the publish); outside
    a run, without a run_date var, the whole table is tested.
-#}
{% macro default__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set in_run = is_settlement_run() or var('run_date', none) is not none -%}
    {%- if where and '__run_' in where -%}
        {%- if not in_run -%}
            {%- set where = 'true' -%}
        {%- else -%}
            {%- set where = where | replace('__run_periods__', is_run_date_period()) | replace('__run_date__', run_date()) -%}
        {%- endif -%}
    {%- endif -%}
    {%- set relation = staged(relation) -%}
    {%- if where -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
