{#-
    day_partition: a table range-partitioned by day on config `partition_column` (default settled_on).
    A run builds the run date's partition only, so the cost tracks that day's data, not history. The
    model must select the run date (run_date()) as its partition column.

    The new day is built with CREATE TABLE AS (which may use parallel workers) and checked against the
    partition bounds. A model of the engine's working state swaps it in at once, in the same
    transaction; a published model (config publish=true) leaves it in the build schema for the run's
    one publish (publish_settlement_run). `--full-refresh` drops every partition.

    On Citus (macros/citus.sql), a model with config distributed_by (a column: 'user_id') is a
    distributed table colocated with the events: the day is built into a distributed table of the same
    shape with INSERT ... SELECT, which the workers run shard by shard, and swapped in by one DO block.
    Citus runs distributed DDL on the shards one command at a time, so each is sent on its own (a string
    of several fails: "cannot insert multiple commands into a prepared statement").
-#}
{% materialization day_partition, adapter='postgres' %}
    {%- set partition_column = config.get('partition_column', 'settled_on') -%}
    {#- Planner settings for this model's transaction only, e.g. {'work_mem': '1GB'}. -#}
    {%- set session_settings = config.get('session_settings', {}) -%}
    {%- set deferred = config.get('publish', false) and is_settlement_run() -%}
    {%- set day = settlement_run_date() -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set existing_relation = table_to_keep(this) -%}
    {%- set partition_name = day_table_name(this.identifier, day) -%}
    {%- if deferred -%}
        {%- set staging_relation = staged_relation(this.identifier) -%}
    {%- else -%}
        {%- set staging_relation = api.Relation.create(
                database=this.database, schema=this.schema, identifier=partition_name ~ '__new', type='table') -%}
    {%- endif -%}
    {%- set partition_relation = this.incorporate(path={'identifier': partition_name}) -%}
    {%- set distributed_by = config.get('distributed_by') -%}
    {%- if distributed_by and config.get('publish', false) -%}
        {{ exceptions.raise_compiler_error(this.identifier ~ ": a published model cannot be distributed_by (the publish swaps it in with the day's other marts in one multi-statement transaction)") }}
    {%- endif -%}
    {%- set colocate_with = citus_colocation_anchor() if distributed_by else none -%}

    {{ begin_model_transaction(pre_hooks) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}
    {{ set_local_settings(session_settings) }}

    {% if existing_relation is none %}
        {% call statement('create_parent') -%}
            create temporary table {{ this.identifier }}__shape on commit drop as
                select * from ({{ sql }}) as model with no data;
            create table {{ target_relation }} (like {{ this.identifier }}__shape)
                partition by range ({{ partition_column }});
        {%- endcall %}
        {% if colocate_with %}
            {% do citus_distribute(target_relation, distributed_by, colocate_with) %}
        {% endif %}
        {% do create_indexes(target_relation) %}
    {% elif colocate_with and not is_citus_distributed(target_relation) %}
        {#- days settled before the events were distributed: the model is distributed now, with them -#}
        {% do citus_distribute(target_relation, distributed_by, colocate_with, had_rows=true) %}
    {% endif %}

    {% if colocate_with %}
        {%- set old_columns = adapter.get_columns_in_relation(target_relation) | map(attribute='name') | list -%}
        {% do require_same_columns(this, old_columns, citus_query_columns(this.identifier, sql)) %}
        {%- set columns = adapter.get_columns_in_relation(target_relation) | map(attribute='quoted') | join(', ') -%}
        {% call statement('drop_staging') -%}
            drop table if exists {{ staging_relation }}
        {%- endcall %}
        {% call statement('create_staging') -%}
            create table {{ staging_relation }} (like {{ target_relation }})
        {%- endcall %}
        {% do citus_distribute(staging_relation, distributed_by, target_relation) %}
        {% call statement('main') -%}
            insert into {{ staging_relation }} ({{ columns }})
            select {{ columns }} from ({{ sql }}) as model
        {%- endcall %}
    {% else %}
        {% call statement('main') -%}
            drop table if exists {{ staging_relation }};
            create table {{ staging_relation }} as {{ sql }};
        {%- endcall %}
    {% endif %}

    {%- set bounds -%}
        alter table {{ staging_relation }} add constraint {{ partition_name }}_bounds check (
            {{ partition_column }} is not null
            and {{ partition_column }} >= '{{ day }}'::date
            and {{ partition_column }} < '{{ day }}'::date + 1)
    {%- endset -%}
    {%- set swap = [
            "drop table if exists " ~ partition_relation,
            "alter table " ~ staging_relation ~ " rename to " ~ partition_name,
            "alter table " ~ target_relation ~ " attach partition " ~ partition_relation
                ~ " for values from ('" ~ day ~ "') to ('" ~ day ~ "'::date + 1)"] -%}

    {% if colocate_with %}
        {#- a statement each (Citus takes distributed DDL one command per call) -#}
        {% call statement('bounds') %}{{ bounds }}{% endcall %}
        {% call statement('analyze') %}analyze {{ staging_relation }}{% endcall %}
        {% do enforce_checks(staging_relation) %}
        {% if not deferred %}
            {% call statement('swap') -%}
                do $swap$ begin
                    {% for command in swap -%}
                    execute {{ sql_text(command) }};
                    {% endfor -%}
                end $swap$
            {%- endcall %}
        {% endif %}
    {% else %}
        {#- one round trip for all that follows the build: each statement costs dbt (its events, its result
            table) more than the database on a small day, and waits its turn on a busy machine -#}
        {%- set checks = checks_statement(staging_relation) -%}
        {% call statement('check_and_swap') -%}
            {{ same_columns_check(this, target_relation, staging_relation) }};
            {{ bounds }};
            analyze {{ staging_relation }};
            {%- if checks %}
            {{ checks }};
            {%- endif %}
            {%- if not deferred %}
            {{ swap | join(';\n') }};
            {%- endif %}
        {%- endcall %}
    {% endif %}

    {% if deferred %}
        {#- the parent's indexes, made now, so that attaching the partition at publish only adopts them -#}
        {% do create_indexes(staging_relation) %}
    {% endif %}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do persist_docs(target_relation, model) %}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
