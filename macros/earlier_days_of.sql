{#-
    The relation of a day-partitioned model, for reading the partitions of days settled before the
    run date, or none when it does not exist yet. It deliberately adds no dependency: the model that
    calls it feeds `model_name` on the same day, and dbt cannot express "an earlier run of".
    Days are settled in order (settlement/pipeline.py), so the earlier days are there.
-#}
{% macro earlier_days_of(model_name) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(adapter.get_relation(database=this.database, schema=this.schema, identifier=model_name)) }}
{%- endmacro %}
