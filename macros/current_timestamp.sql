{#- dbt's "now" (source freshness, snapshots) is the platform's clock (settlement_now(), migration 0032:
    the server's clock shifted as settlement.clock says), the clock received_at is written on. -#}
{% macro postgres__current_timestamp() -%}
    settlement_now()
{%- endmacro %}
