{#-
    view_in_place (postgres): a view replaced in place, so the views that depend on it (readers' views over the
    marts) never disappear during a run, as dbt's own view materialization makes them do (it renames
    the old view away and drops it with CASCADE). A view whose definition did not change is left alone
    (no lock taken on it at all); a changed one is replaced with CREATE OR REPLACE VIEW, in one
    transaction (which fails on a column removed or retyped: `settlement run --rebuild` then builds
    every relation anew beside the published ones and swaps them in at once).
-#}
{% materialization view_in_place, adapter='postgres' %}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set target_relation = this.incorporate(type='view') -%}
    {%- set candidate = make_intermediate_relation(target_relation) -%}

    {{ begin_model_transaction(pre_hooks) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}
    {#- (a --full-refresh replaces a view in place too: the views and readers that depend on it stay) -#}
    {% if existing_relation is none or existing_relation.type != 'view' %}
        {{ drop_relation_if_exists(existing_relation) }}
        {% call statement('main') -%}
            {{ get_create_view_as_sql(target_relation, sql) }}
        {%- endcall %}
        {% do persist_docs(target_relation, model) %}
        {{ run_hooks(post_hooks, inside_transaction=True) }}
        {{ adapter.commit() }}
        {{ run_hooks(post_hooks, inside_transaction=False) }}
        {{ return({'relations': [target_relation]}) }}
    {% endif %}
    {% call statement('candidate') -%}
        drop view if exists {{ candidate }};
        {{ get_create_view_as_sql(candidate, sql) }}
    {%- endcall %}
    {%- set unchanged = run_query(
            "select pg_get_viewdef('" ~ candidate ~ "'::regclass) = pg_get_viewdef('" ~ target_relation ~ "'::regclass)"
        ).columns[0].values()[0] -%}
    {% call statement('main') -%}
        drop view {{ candidate }};
        {% if not unchanged -%}
        create or replace view {{ target_relation }} as {{ sql }};
        {%- else -%}
        select 'unchanged' as view_definition;
        {%- endif %}
    {%- endcall %}
    {% do persist_docs(target_relation, model) %}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
