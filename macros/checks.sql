{#-
    A model's row checks (config `checks` in its YAML), enforced by its materialization on the rows the
    run built, in the model's own transaction, before anything is swapped in or published: a failing
    check stops the model, so the run publishes nothing. One query per model instead of a test node per
    model (which dbt would run after the model and before its children: on every day's critical path).
    The same checks run as the data test `configured_checks` (`dbt test`, docs), on the whole table.

    checks: {
      key: the columns that together identify a row (the grain),
      unique: more column lists that identify a row,
      not_null: columns that must have a value,
      expressions: {name: condition every row satisfies},
      references: [{column, to: a model's name, field}]: each value of column is one of `to`'s field,
      agrees_with: [{model, keys, sums}]: each row's sums columns are the sums of `model`'s rows (the run's
        rows, when it is built in this run) with the same keys, and every key of `model` has a row
    }
    A failing check is one row: the check's name and how many rows (for a reference: values) break it.
-#}
{% macro row_check_problems(relation, checks) -%}
with checked as (
    select * from {{ relation }}
),

counts as (
    select
        0 as "(none)"
        {%- for column in checks.get('not_null') or [] %},
        count(*) filter (where {{ column }} is null) as "{{ column }} is null"
        {%- endfor %}
        {%- for name, condition in (checks.get('expressions') or {}).items() %},
        count(*) filter (where not coalesce(({{ condition }}), false)) as "{{ name }}"
        {%- endfor %}
    from checked
),

problems as (
    select key as problem, value::bigint as rows
    from counts cross join lateral jsonb_each_text(to_jsonb(counts))
    {%- for key in ([checks.get('key')] if checks.get('key') else []) + (checks.get('unique') or []) %}
    union all
    select 'duplicate {{ key | join(", ") }}', count(*)
    from (select 1 from checked group by {{ key | join(', ') }} having count(*) > 1) as duplicates
    {%- endfor %}
    {%- for reference in checks.get('references') or [] %}
    {#- `to`: a model's name (a model's config checks), or the relation a data test's ref() gave -#}
    {%- set referenced = (model_relation(reference.to) if execute else reference.to) if reference.to is string else reference.to %}
    union all
    -- values missing from the referenced relation, read once (EXCEPT), not looked up row by row
    select '{{ reference.column }} not in {{ reference.to }}.{{ reference.field }}', count(*)
    from (
        select {{ reference.column }} from checked where {{ reference.column }} is not null
        except
        select {{ reference.field }} from {{ referenced }}
    ) as missing
    {%- endfor %}
    {%- for agreement in checks.get('agrees_with') or [] %}
    union all
    select '{{ agreement.sums | join(", ") }} are the sums of {{ agreement.model }}', count(*)
    from checked
    full join (
        select {{ agreement['keys'] | join(', ') }}{% for column in agreement.sums %}, sum({{ column }}) as {{ column }}{% endfor %}
        from {{ staged(model_relation(agreement.model)) if execute else agreement.model }}
        {%- if is_settlement_run() %} where settled_on = {{ run_date() }}{% endif %}
        group by {{ agreement['keys'] | join(', ') }}
    ) as summed using ({{ agreement['keys'] | join(', ') }})
    where checked is null
       {%- for column in agreement.sums %} or checked.{{ column }} is distinct from coalesce(summed.{{ column }}, 0){% endfor %}
    {%- endfor %}
)

select * from problems where rows > 0
{%- endmacro %}

{#- In a materialization: stops the model when a check of its config fails on `relation` (what it built).
    checks_statement is the statement, to send alone (this) or with the model's others (day_partition). -#}
{% macro enforce_checks(relation) %}
    {%- set checks = checks_statement(relation) -%}
    {%- if checks -%}
        {% call statement('checks') %}{{ checks }}{% endcall %}
    {%- endif -%}
{% endmacro %}

{#- The checks as one statement: a failing check is the database's error, naming the model and each
    failing check with its rows. Empty when the model has no checks. -#}
{% macro checks_statement(relation) -%}
    {%- set checks = config.get('checks') -%}
    {%- if checks and execute -%}
    do $checks$
    declare
        failed text := (select string_agg(problem || ' (' || rows || ' rows)', '; ')
                        from ({{ row_check_problems(relation, checks) }}) as problems);
    begin
        if failed is not null then
            raise exception '%', {{ sql_text(this.identifier ~ " fails its checks, so nothing is published: ") }} || failed;
        end if;
    end $checks$
    {%- endif -%}
{%- endmacro %}
