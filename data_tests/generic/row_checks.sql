{#- A relation's row checks given as the test's arguments (for what no materialization of ours builds,
    e.g. a seed); a model's own are its config `checks` (macros/checks.sql, test configured_checks). -#}
{% test row_checks(model, key=none, not_null=none, expressions=none, references=none) %}
{{ row_check_problems(model, {'key': key, 'not_null': not_null, 'expressions': expressions, 'references': references}) }}
{% endtest %}
