{#-
    period_slice: a table with columns period and period_start, of which each run replaces the day,
    ISO week and month containing the run date: those rows are deleted and the model's rows inserted,
    in one transaction. The model must select exactly those periods. (The slice is computed here, at
    run time: a config value would be fixed when the project is parsed.)
-#}
{% materialization period_slice, adapter='postgres' %}
    {%- set slice = is_run_date_period() -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set existing_relation = table_to_keep(this) -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {% if existing_relation is none %}
        {% call statement('main') -%}
            create table {{ target_relation }} as {{ sql }};
        {%- endcall %}
        {% do create_indexes(target_relation) %}
    {% else %}
        {%- set table_columns = adapter.get_columns_in_relation(target_relation) -%}
        {% do require_same_columns(this, table_columns | map(attribute='name') | list, get_columns_in_query(sql)) %}
        {%- set columns = table_columns | map(attribute='quoted') | join(', ') -%}
        {% call statement('main') -%}
            delete from {{ target_relation }} where {{ slice }};
            insert into {{ target_relation }} ({{ columns }})
            select {{ columns }} from ({{ sql }}) as model;
        {%- endcall %}
    {% endif %}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do persist_docs(target_relation, model) %}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
