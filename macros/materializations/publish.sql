{#-
    Published models (config publish=true) are what readers see: the API's reads, the dbt docs' marts.
    In a settlement run they are built in the build schema (var build_schema) as staged relations, and
    publish_settlement_run() swaps them all in at the end, in one transaction. Until then, readers see
    the previous state whole, and a run that fails or is killed leaves it as it was.

    Within the run, a model that reads a published model's run-date rows reads them where the run built
    them: {{ staged(ref('x')) }}. Other days are read from the published relation itself.
-#}

{% macro build_schema() -%}
    {{ return(var('build_schema')) }}
{%- endmacro %}

{#- The published models of the project, in the order they were defined (the publish is one
    transaction, so their order does not matter). -#}
{% macro published_models() %}
    {%- set nodes = [] -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'model' and node.config.get('publish', false) -%}
            {%- do nodes.append(node) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(nodes | sort(attribute='name')) }}
{% endmacro %}

{#- A model's relation, from the graph (for hooks, where ref() adds no dependency). -#}
{% macro model_relation(model_name) %}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name == model_name -%}
        {{ return(api.Relation.create(database=target.database, schema=node.schema, identifier=node.alias or node.name)) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("no model " ~ model_name) }}
{% endmacro %}

{% macro is_published(model_name) %}
    {{ return(model_name in published_models() | map(attribute='name') | list) }}
{% endmacro %}

{#- Where this run builds the run date's rows of a published model, before they are published. -#}
{% macro staged_relation(model_name) %}
    {{ return(api.Relation.create(
        database=target.database, schema=build_schema(),
        identifier=day_table_name(model_name, settlement_run_date()), type='table')) }}
{% endmacro %}

{#- A published model's relation as this run reads it: the staged run-date rows during a settlement
    run, the published relation otherwise (docs, tests outside a run, parsing). -#}
{% macro staged(relation) %}
    {%- if is_settlement_run() and is_published(relation.identifier) -%}
        {{ return(staged_relation(relation.identifier)) }}
    {%- endif -%}
    {{ return(relation) }}
{% endmacro %}

{#- The statements that publish one model's staged rows: a day partition swapped in, or the run's
    day / ISO week / month slice replaced. -#}
{% macro publish_model(node) -%}
    {%- set published = model_relation(node.name) -%}
    {%- set staged_rel = staged_relation(node.name) -%}
    {%- set day = settlement_run_date() -%}
    {%- if node.config.materialized == 'day_partition' %}
    drop table if exists {{ published.schema }}.{{ staged_rel.identifier }};
    alter table {{ staged_rel }} set schema {{ published.schema }};
    alter table {{ published }} attach partition {{ published.schema }}.{{ staged_rel.identifier }}
        for values from ('{{ day }}') to ('{{ day }}'::date + 1);
    {%- elif node.config.materialized == 'period_slice' %}
    {%- set columns = adapter.get_columns_in_relation(published) | map(attribute='quoted') | join(', ') %}
    {%- set keys = node.config.get('replace_keys') %}
    {%- if keys %}
    {#- only the rows the run changed; of those, the ones that are still rows -#}
    delete from {{ published }} as published
    where exists (select 1 from {{ staged_rel }} as changed
                  where {% for key in keys %}changed.{{ key }} = published.{{ key }}{% if not loop.last %} and {% endif %}{% endfor %});
    {%- else %}
    delete from {{ published }} where {{ is_run_date_period() }};
    {%- endif %}
    insert into {{ published }} ({{ columns }})
    select {{ columns }} from {{ staged_rel }} where {{ node.config.get('keep_when', 'true') }};
    drop table {{ staged_rel }};
    {%- else -%}
        {{ exceptions.raise_compiler_error("model " ~ node.name ~ " is published but materialized as " ~ node.config.materialized) }}
    {%- endif %}
{%- endmacro %}

{#- Nothing staged outlives its run: begin and failure both clear the build schema. -#}
{% macro drop_staged_relations() %}
    {%- do run_query("drop schema if exists " ~ build_schema() ~ " cascade; create schema " ~ build_schema()) -%}
{% endmacro %}
