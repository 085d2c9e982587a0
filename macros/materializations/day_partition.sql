{#-
    day_partition: a table range-partitioned by day on config `partition_column` (default settled_on).
    A run builds the run date's partition only, so the cost tracks that day's data, not history. The
    model must select the run date (run_date()) as its partition column.

    The new day is built with CREATE TABLE AS (which may use parallel workers) and checked against the
    partition bounds. A model of the engine's working state swaps it in at once, in the same
    transaction; a published model (config publish=true) leaves it in the build schema for the run's
    one publish (publish_settlement_run). `--full-refresh` drops every partition.
-#}
{% materialization day_partition, adapter='postgres' %}
    {%- set partition_column = config.get('partition_column', 'settled_on') -%}
    {#- Planner settings for this model's transaction only, e.g. {'work_mem': '1GB'}. -#}
    {%- set session_settings = config.get('session_settings', {}) -%}
    {%- set deferred = config.get('publish', false) and is_settlement_run() -%}
    {%- set day = settlement_run_date() -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set existing_relation = table_to_keep(this) -%}
    {%- set partition_name = this.identifier ~ '_' ~ (day | replace('-', '')) -%}
    {%- if deferred -%}
        {%- set staging_relation = staged_relation(this.identifier) -%}
    {%- else -%}
        {%- set staging_relation = api.Relation.create(
                database=this.database, schema=this.schema, identifier=partition_name ~ '__new', type='table') -%}
    {%- endif -%}
    {%- set partition_relation = this.incorporate(path={'identifier': partition_name}) -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ begin_model_transaction() }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}
    {{ set_local_settings(session_settings) }}

    {% if existing_relation is none %}
        {% call statement('create_parent') -%}
            create temporary table {{ this.identifier }}__shape on commit drop as
                select * from ({{ sql }}) as model with no data;
            create table {{ target_relation }} (like {{ this.identifier }}__shape)
                partition by range ({{ partition_column }});
        {%- endcall %}
        {% do create_indexes(target_relation) %}
    {% endif %}

    {% call statement('main') -%}
        drop table if exists {{ staging_relation }};
        create table {{ staging_relation }} as {{ sql }};
    {%- endcall %}

    {%- set new_columns = adapter.get_columns_in_relation(staging_relation) | map(attribute='name') | list -%}
    {%- set old_columns = adapter.get_columns_in_relation(target_relation) | map(attribute='name') | list -%}
    {% do require_same_columns(this, old_columns, new_columns) %}

    {% call statement('bounds') -%}
        alter table {{ staging_relation }} add constraint {{ partition_name }}_bounds check (
            {{ partition_column }} is not null
            and {{ partition_column }} >= '{{ day }}'::date
            and {{ partition_column }} < '{{ day }}'::date + 1);
        analyze {{ staging_relation }};
    {%- endcall %}

    {% if deferred %}
        {#- the parent's indexes, made now, so that attaching the partition at publish only adopts them -#}
        {% do create_indexes(staging_relation) %}
    {% else %}
        {% call statement('swap') -%}
            drop table if exists {{ partition_relation }};
            alter table {{ staging_relation }} rename to {{ partition_name }};
            alter table {{ target_relation }} attach partition {{ partition_relation }}
                for values from ('{{ day }}') to ('{{ day }}'::date + 1);
        {%- endcall %}
    {% endif %}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do persist_docs(target_relation, model) %}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
