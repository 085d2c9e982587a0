{#- Every model and seed lives in one schema, var analytics_schema (dbt_project.yml: analytics), whatever
    the target's: what readers see; a rebuild builds everything anew in a schema of its own. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ var('analytics_schema') }}
{%- endmacro %}
