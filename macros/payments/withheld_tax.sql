{#- A tax withheld from a gross amount: gross times the rate, truncated (toward zero, never rounded) to a
    multiple of the unit (10 KRW); nothing on a gross of zero or less. Exact numeric throughout. -#}
{% macro withheld_tax(gross, rate, unit) -%}
    case when {{ gross }} > 0 then trunc({{ gross }} * {{ rate }} / {{ unit }}) * {{ unit }} else 0::numeric end
{%- endmacro %}
