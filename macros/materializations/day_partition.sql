{#-
    day_partition: a table range-partitioned by day on config `partition_column` (default settled_on).
    A run builds the run date's partition only and swaps it in, so the cost tracks that day's data,
    not history. The model must select var('run_date') as its partition column.

    The new day is built with CREATE TABLE AS (which may use parallel workers), checked against the
    partition bounds, then swapped in inside the same transaction: readers see the old day or the
    new one, never half of one, and a run killed midway leaves the previous day intact.
    `--full-refresh` drops every partition.
-#}
{% materialization day_partition, adapter='postgres' %}
    {%- set partition_column = config.get('partition_column', 'settled_on') -%}
    {#- Planner settings for this model's transaction only, e.g. {'work_mem': '1GB'}. -#}
    {%- set session_settings = config.get('session_settings', {}) -%}
    {%- set day = var('run_date') | string -%}
    {%- set suffix = day | replace('-', '') -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set existing_relation = table_to_keep(this) -%}
    {%- set partition_name = this.identifier ~ '_' ~ suffix -%}
    {%- set staging_relation = api.Relation.create(
            database=this.database, schema=this.schema, identifier=partition_name ~ '__new', type='table') -%}
    {%- set partition_relation = staging_relation.incorporate(path={'identifier': partition_name}) -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {% for name, value in session_settings.items() %}
        {% call statement('setting_' ~ name) %} set local {{ name }} = '{{ value }}' {% endcall %}
    {% endfor %}

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

    {% call statement('swap') -%}
        alter table {{ staging_relation }} add constraint {{ partition_name }}_bounds check (
            {{ partition_column }} is not null
            and {{ partition_column }} >= '{{ day }}'::date
            and {{ partition_column }} < '{{ day }}'::date + 1);
        analyze {{ staging_relation }};
        drop table if exists {{ partition_relation }};
        alter table {{ staging_relation }} rename to {{ partition_name }};
        alter table {{ target_relation }} attach partition {{ partition_relation }}
            for values from ('{{ day }}') to ('{{ day }}'::date + 1);
    {%- endcall %}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do persist_docs(target_relation, model) %}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
