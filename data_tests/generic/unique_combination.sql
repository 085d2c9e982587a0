{#- The columns together identify a row: the grain of a model. -#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as rows_with_these_keys
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
