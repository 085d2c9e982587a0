{#-
    period_slice: a table with columns period and period_start, of which each run replaces the day,
    ISO week and month containing the run date (config replace_keys: only the rows of the keys the model
    selects, and of those only the ones for which keep_when holds). A model of
    the working state replaces them at once (delete and insert, one transaction); a published model
    (config publish=true) leaves its new slice in the build schema for the run's one publish.
    (The slice is computed at run time: a config value would be fixed when the project is parsed.)
-#}
{% materialization period_slice, adapter='postgres' %}
    {%- set slice = is_run_date_period() -%}
    {%- set deferred = config.get('publish', false) and is_settlement_run() -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set existing_relation = table_to_keep(this) -%}

    {{ begin_model_transaction(pre_hooks) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}
    {{ set_local_settings(config.get('session_settings', {})) }}

    {% if existing_relation is none %}
        {% call statement('create_table') -%}
            create table {{ target_relation }} as select * from ({{ sql }}) as model with no data;
        {%- endcall %}
        {% do create_indexes(target_relation) %}
    {% endif %}
    {%- set table_columns = adapter.get_columns_in_relation(target_relation) -%}
    {% do require_same_columns(this, table_columns | map(attribute='name') | list, get_columns_in_query(sql)) %}
    {%- set columns = table_columns | map(attribute='quoted') | join(', ') -%}

    {% if deferred %}
        {%- set staging_relation = staged_relation(this.identifier) -%}
        {% call statement('main') -%}
            drop table if exists {{ staging_relation }};
            create table {{ staging_relation }} as select {{ columns }} from ({{ sql }}) as model;
        {%- endcall %}
        {#- read by the models after it (top 5) and by the publish -#}
        {% call statement('analyze') %} analyze {{ staging_relation }} {% endcall %}
        {% do enforce_checks(staging_relation) %}
    {% else %}
        {% call statement('main') -%}
            delete from {{ target_relation }} where {{ slice }};
            insert into {{ target_relation }} ({{ columns }})
            select {{ columns }} from ({{ sql }}) as model;
        {%- endcall %}
        {% do enforce_checks("(select * from " ~ target_relation ~ " where " ~ slice ~ ") as run_periods") %}
    {% endif %}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do persist_docs(target_relation, model) %}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
