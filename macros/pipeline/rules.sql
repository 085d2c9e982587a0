{#-
    The rules a day is settled under (SPEC.md, "Which days can be settled and closed"): recorded with the
    day (settled_days.rules) by the publish, and checked before a run starts and again as it publishes
    (check_settlement_rules, migration 0033): closed days keep theirs, the open days share one set, and a
    run under others is refused in one line naming the rule, unless it settles every open day again under
    new ones (`settlement run --rebuild`, var new_rules).
-#}

{#- The rules that are vars (the run's configuration: dbt_project.yml, or settlement's settings). -#}
{% macro rule_vars() %}
    {{ return(['time_zone', 'view_window_hours', 'watched_slack_seconds', 'clock_skew_seconds', 'ad_slot_seconds']) }}
{% endmacro %}

{% macro settlement_rules() %}
    {%- set rules = {} -%}
    {%- for name in rule_vars() -%}
        {%- do rules.update({name: var(name)}) -%}
    {%- endfor -%}
    {{ return(rules) }}
{% endmacro %}

{#- The run's rules as SQL jsonb; with_tiers adds the price tiers the run priced with (int_price_tiers). -#}
{% macro settlement_rules_sql(with_tiers=false) -%}
    ({{ sql_text(tojson(settlement_rules())) }}::jsonb
    {%- if with_tiers %} || jsonb_build_object('price_tiers', (
        select jsonb_agg(jsonb_build_array(kind, lower_bound, unit_price::text) order by kind, lower_bound)
        from {{ price_tiers_in_force(model_relation('int_price_tiers')) }} as tiers)){% endif %})
{%- endmacro %}

{#- Stops a run whose rules are out of their bounds, or set on a plain dbt command line (the rules are
    configuration: dbt_project.yml's vars, or settlement's settings, which `settlement` passes itself). -#}
{% macro require_configured_rules() %}
    {%- set window = var('view_window_hours') | int -%}
    {%- set problems = [] -%}
    {%- if not 24 <= window <= 744 -%}
        {%- do problems.append("view_window_hours must be between 24 and 744 (a view window of a day up to a month), not " ~ window) -%}
    {%- endif -%}
    {%- for name in ['watched_slack_seconds', 'clock_skew_seconds'] if (var(name) | int) < 0 -%}
        {%- do problems.append(name ~ " cannot be negative") -%}
    {%- endfor -%}
    {%- if (var('ad_slot_seconds') | int) < 1 -%}
        {%- do problems.append("ad_slot_seconds must be at least 1") -%}
    {%- endif -%}
    {%- if var('configured_by', none) != 'settlement' -%}
        {%- set given = invocation_args_dict.get('vars') or {} -%}
        {%- set given = fromyaml(given) if given is string else given -%}
        {%- set overridden = rule_vars() | select('in', given) | list -%}
        {%- if overridden -%}
            {%- do problems.append("a rule cannot be set on the command line (" ~ overridden | join(', ')
                ~ "): the rules are configuration, dbt_project.yml's vars or the SETTLEMENT_* settings of `settlement run`") -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(problems) }}
{% endmacro %}
