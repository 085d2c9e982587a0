{#-
    The price of the views occupying zero-based positions [views_before, views_before + views) of a
    lifetime (or a day), each view priced by the tier its position falls in, like tax brackets.
    A tier covers positions [lower_bound, upper_bound); tiers come from the price_tiers seed.
    Exact numeric; the caller truncates.
-#}
{% macro graduated_price(views_before, views, tier_kind) -%}
    (select coalesce(sum(
                greatest(0::bigint,
                         least(({{ views_before }}) + ({{ views }}), tier.upper_bound)
                         - greatest(({{ views_before }}), tier.lower_bound))
                * tier.unit_price), 0)
     from {{ price_tiers_in_force(ref('int_price_tiers')) }} as tier
     where tier.kind = '{{ tier_kind }}')
{%- endmacro %}
