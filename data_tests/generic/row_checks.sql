{#-
    Every check of a model's rows in one query, so that a run pays one test node per model instead of
    one per check (data tests guard every publish; their cost is the run's slice, see run_slice_of_tests):
    - key: the columns that together identify a row (the grain);
    - not_null: columns that must have a value;
    - expressions: {name: condition every row satisfies};
    - references: [{column, to, field}]: each value of column is a value of field in relation `to`.
    A failing check is one row: the check's name and how many rows (for a reference: values) break it.
-#}
{% test row_checks(model, key=none, not_null=none, expressions=none, references=none) %}
with checked as (
    select * from {{ model }}
),

counts as (
    select
        0 as "(none)"
        {%- for column in not_null or [] %},
        count(*) filter (where {{ column }} is null) as "{{ column }} is null"
        {%- endfor %}
        {%- for name, condition in (expressions or {}).items() %},
        count(*) filter (where not coalesce(({{ condition }}), false)) as "{{ name }}"
        {%- endfor %}
    from checked
),

problems as (
    select key as problem, value::bigint as rows
    from counts cross join lateral jsonb_each_text(to_jsonb(counts))
    {%- if key %}
    union all
    select 'duplicate {{ key | join(", ") }}', count(*)
    from (select 1 from checked group by {{ key | join(', ') }} having count(*) > 1) as duplicates
    {%- endif %}
    {%- for reference in references or [] %}
    union all
    -- values missing from the referenced relation, read once (EXCEPT), not looked up row by row
    select '{{ reference.column }} not in {{ reference.to }}.{{ reference.field }}', count(*)
    from (
        select {{ reference.column }} from checked where {{ reference.column }} is not null
        except
        select {{ reference.field }} from {{ reference.to }}
    ) as missing
    {%- endfor %}
)

select * from problems where rows > 0
{% endtest %}
