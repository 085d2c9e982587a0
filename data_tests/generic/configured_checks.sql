{#- The model's row checks (config `checks`, macros/checks.sql), as a data test: its materialization
    enforces them on every run's rows; this runs them on the whole table (`dbt test`, and the docs list
    them with the model). Settlement runs leave it out (selectors.yml). -#}
{% test configured_checks(model) %}
    {%- set checks = {} -%}
    {%- if execute -%}
        {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name == model.identifier -%}
            {%- do checks.update(node.config.get('checks') or {}) -%}
        {%- endfor -%}
    {%- endif -%}
{{ row_check_problems(model, checks) }}
{% endtest %}
