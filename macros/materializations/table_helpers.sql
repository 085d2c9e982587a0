{#- Shared by the day_partition and period_slice materializations. -#}

{#- The model's table as it stands, or none when there is none to keep: a relation of another kind (a
    view left from an older version of the model) is dropped. A --full-refresh drops nothing: the table
    holds every settled day, of which a run builds its own day whole anyway (a closed day is paid, and
    readers and the next run need the others); rebuilding every day is `settlement run --rebuild`. -#}
{% macro table_to_keep(relation) %}
    {%- set existing = load_cached_relation(relation) -%}
    {% if existing is not none and existing.type != 'table' %}
        {% do adapter.drop_relation(existing) %}
        {{ return(none) }}
    {% endif %}
    {{ return(existing) }}
{% endmacro %}

{#- Stops a run whose model now selects other columns than its table has: the rows already settled
    were built with the old columns, so the days must be rebuilt together, deliberately. -#}
{% macro require_same_columns(relation, old_columns, new_columns) %}
    {% if new_columns | sort != old_columns | sort %}
        {{ exceptions.raise_compiler_error(columns_changed_message(relation) | format(old_columns | join(', '), new_columns | join(', '))) }}
    {% endif %}
{% endmacro %}

{#- Its message, the old and the new columns left to fill in (%s). -#}
{% macro columns_changed_message(relation) -%}
    {{ relation.identifier }}'s columns changed (%s -> %s): its settled days must be rebuilt: `settlement run --rebuild`
{%- endmacro %}

{#- The same, as a statement of the model's transaction: the staged table's columns against the model's
    table's, compared in the database (no round trip per column list). -#}
{% macro same_columns_check(relation, table, staged) -%}
    do $same_columns$
    declare
        old_columns text[] := array(select attname::text from pg_attribute
                                    where attrelid = {{ sql_text(table.include(database=false) | string) }}::regclass
                                      and attnum > 0 and not attisdropped order by attnum);
        new_columns text[] := array(select attname::text from pg_attribute
                                    where attrelid = {{ sql_text(staged.include(database=false) | string) }}::regclass
                                      and attnum > 0 and not attisdropped order by attnum);
    begin
        if not (old_columns @> new_columns and new_columns @> old_columns) then
            raise exception '%', format({{ sql_text(columns_changed_message(relation)) }},
                                        array_to_string(old_columns, ', '), array_to_string(new_columns, ', '));
        end if;
    end $same_columns$
{%- endmacro %}

{#- Runs the hooks that run outside the model's transaction (the run's lease renewal: its row is locked
    only while it is renewed), each committed on its own, and opens the model's transaction, in one
    statement instead of dbt's three (run_hooks' bare `commit;`, the hook, a `begin`): on a busy machine
    each round trip waits its turn, and a day's models are a chain. The `begin` is needed anyway: after
    dbt's `commit;` psycopg2 believes a transaction is still open and sends no BEGIN of its own, so
    without it each of the model's statements would commit alone (a reader could see a table half
    replaced) and SET LOCAL would do nothing. -#}
{% macro begin_model_transaction(pre_hooks) %}
    {% call statement('begin_model_transaction', auto_begin=False) -%}
        commit;
        {%- for hook in pre_hooks | selectattr('transaction', 'equalto', false) %}
        {%- set rendered = render(hook.get('sql')) | trim %}
        {%- if rendered | length > 0 %}
        {{ rendered }};
        commit;
        {%- endif %}
        {%- endfor %}
        begin
    {%- endcall %}
{% endmacro %}

{#- Planner settings for the model's transaction only (set_config(..., true): SET LOCAL), in the statement
    that checks that a transaction is open: otherwise they would do nothing and the model would run with
    the server's defaults. -#}
{% macro set_local_settings(settings) %}
    {% if execute %}
        {%- set in_transaction = run_query(
                "select transaction_timestamp() < statement_timestamp()" ~ set_config_calls(settings)
            ).columns[0].values()[0] -%}
        {% if not in_transaction %}
            {{ exceptions.raise_compiler_error(this.identifier ~ ": no transaction is open for the model's statements") }}
        {% endif %}
    {% endif %}
{% endmacro %}

{% macro set_config_calls(settings) -%}
    {%- for name, value in settings.items() -%}
        , set_config({{ sql_text(name) }}, {{ sql_text(value | string) }}, true)
    {%- endfor -%}
{%- endmacro %}

{#- A model's table of one day, <model>_YYYYMMDD: its partition, or its rows staged by a run. -#}
{% macro day_table_name(identifier, day) %}
    {{ return(identifier ~ '_' ~ (day | string | replace('-', ''))) }}
{% endmacro %}
