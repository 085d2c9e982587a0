{#- The staging views and the seeds change only when the project does: each is marked with the checksum
    of the file it was built from, so that `settlement run` can leave the unchanged ones out of a day's
    run (selectors settlement_day and settlement_day_and_payments; settlement/pipeline.py, selector_for). -#}
{% macro mark_deployed() -%}
    comment on {{ 'view' if model.config.materialized == 'view_in_place' else 'table' }} {{ this }}
        is {{ sql_text(deployed_mark(model.checksum.checksum)) }}
{%- endmacro %}

{% macro deployed_mark(checksum) -%}
    {{ return('settlement deployed ' ~ checksum) }}
{%- endmacro %}
