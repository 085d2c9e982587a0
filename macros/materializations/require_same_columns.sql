{#- Stops a run whose model now selects other columns than its table has: the rows already settled
    were built with the old columns, so the days must be rebuilt together, deliberately. -#}
{% macro require_same_columns(relation, old_columns, new_columns) %}
    {% if new_columns | sort != old_columns | sort %}
        {{ exceptions.raise_compiler_error(
            relation.identifier ~ "'s columns changed (" ~ old_columns | join(', ') ~ " -> " ~ new_columns | join(', ')
            ~ "): its settled days must be rebuilt: `settlement run --rebuild`") }}
    {% endif %}
{% endmacro %}
