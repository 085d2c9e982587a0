{#- The price tiers a run prices with, as a relation of (kind, lower_bound, upper_bound, unit_price): the
    seed's (int_price_tiers), or, when a closed day is settled again under the rules it was closed under,
    the tiers recorded with it (var price_tiers: [[kind, lower_bound, unit_price], ...]). The views stay as
    they are either way. (seeded: int_price_tiers, as ref() gives it in a model, model_relation() in a hook.) -#}
{% macro price_tiers_in_force(seeded) -%}
    {%- set given = var('price_tiers', none) -%}
    {%- if not given -%}
        {{ return(seeded) }}
    {%- endif -%}
    {%- set rows = [] -%}
    {%- for kind, lower_bound, unit_price in given -%}
        {%- do rows.append("(" ~ sql_text(kind) ~ "::text, " ~ (lower_bound | int) ~ "::bigint, " ~ sql_text(unit_price) ~ "::numeric)") -%}
    {%- endfor -%}
    {{ return("(select kind, lower_bound, coalesce(lead(lower_bound) over (partition by kind order by lower_bound), "
              ~ "9223372036854775807) as upper_bound, unit_price from (values " ~ rows | join(", ")
              ~ ") as given (kind, lower_bound, unit_price))") }}
{%- endmacro %}
