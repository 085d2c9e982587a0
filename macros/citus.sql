{#-
    Citus (distributed PostgreSQL): the same project runs on a coordinator with workers. Migration 0031
    distributes the event tables by user_id where the citus extension is created; a model with config
    distributed_by='user_id' (the per-viewer models: the pair pass, the ad impressions) is then
    distributed the same way and colocated with them, so its query runs on the workers shard by shard.
    On plain PostgreSQL (no citus extension, or the events not distributed) the config changes nothing.
-#}

{#- The table a distributed model is colocated with: the platform's watch_events when Citus
    distributes it, else none (plain PostgreSQL: the model stays an ordinary table). -#}
{% macro citus_colocation_anchor() %}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set has_citus = run_query("select count(*) from pg_extension where extname = 'citus'").columns[0].values()[0] -%}
    {%- if has_citus == 0 -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set events = source('platform', 'watch_events') -%}
    {%- set anchor = run_query(
            "select logicalrelid::regclass::text from pg_dist_partition where partmethod = 'h' and logicalrelid = to_regclass('"
            ~ events ~ "')").columns[0].values() -%}
    {{ return(anchor[0] if anchor | length > 0 else none) }}
{% endmacro %}

{#- Whether a relation is a distributed (hash-partitioned) Citus table; only called when Citus is there. -#}
{% macro is_citus_distributed(relation) %}
    {%- set found = run_query(
            "select count(*) from pg_dist_partition where partmethod = 'h' and logicalrelid = to_regclass('"
            ~ relation ~ "')").columns[0].values()[0] -%}
    {{ return(found > 0) }}
{% endmacro %}

{#- Distributes an (empty, or just created) table by column, colocated with anchor. One statement per
    call: Citus runs each distributed DDL on the shards, and a string of several statements cannot be
    sent to them ("cannot insert multiple commands into a prepared statement"). -#}
{% macro citus_distribute(relation, column, anchor, had_rows=false) %}
    {% call statement('distribute_' ~ relation.identifier) -%}
        select create_distributed_table('{{ relation }}', '{{ column }}', colocate_with => '{{ anchor }}')
    {%- endcall %}
    {% if had_rows %}
        {#- the rows now live in the shards; the coordinator's shell would keep an invisible copy -#}
        {% call statement('truncate_local_' ~ relation.identifier) -%}
            select truncate_local_data_after_distributing_table('{{ relation }}')
        {%- endcall %}
    {% endif %}
{% endmacro %}

{#- The columns a query returns, without running it: dbt's get_columns_in_query runs it with `where
    false`, but Citus runs a query's subplans (its CTEs read more than once) before it looks at that, so
    the pass would run twice. A temporary view only plans it. -#}
{% macro citus_query_columns(name, sql) %}
    {%- set view = name ~ '__columns' -%}
    {% call statement('columns_view') -%}
        create or replace temporary view {{ view }} as {{ sql }}
    {%- endcall %}
    {%- set columns = run_query(
            "select attname from pg_attribute where attrelid = 'pg_temp." ~ view ~ "'::regclass and attnum > 0"
            ~ " and not attisdropped order by attnum").columns[0].values() | list -%}
    {% call statement('drop_columns_view') -%}
        drop view {{ view }}  {#- the session's own: temporary relations come first (Citus's DROP VIEW does not know pg_temp.) -#}
    {%- endcall %}
    {{ return(columns) }}
{% endmacro %}
