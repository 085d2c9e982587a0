{#- Shared by the day_partition and period_slice materializations. -#}

{#- The model's table as it stands, or none when there is none to keep: a --full-refresh drops it, and
    so does a relation of another kind (a view left from an older version of the model). -#}
{% macro table_to_keep(relation) %}
    {%- set existing = load_cached_relation(relation) -%}
    {% if existing is not none and (should_full_refresh() or existing.type != 'table') %}
        {% do adapter.drop_relation(existing) %}
        {{ return(none) }}
    {% endif %}
    {{ return(existing) }}
{% endmacro %}

{#- Stops a run whose model now selects other columns than its table has: the rows already settled
    were built with the old columns, so the days must be rebuilt together, deliberately. -#}
{% macro require_same_columns(relation, old_columns, new_columns) %}
    {% if new_columns | sort != old_columns | sort %}
        {{ exceptions.raise_compiler_error(
            relation.identifier ~ "'s columns changed (" ~ old_columns | join(', ') ~ " -> " ~ new_columns | join(', ')
            ~ "): its settled days must be rebuilt: `settlement run --rebuild`") }}
    {% endif %}
{% endmacro %}
