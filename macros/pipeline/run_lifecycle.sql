{#-
    A settlement run is one `dbt build` (or `dbt run`) for one platform day, however it was started: a
    plain `dbt build` from an orchestrator, or `settlement run` / the scheduler, which start the run
    themselves and pass its id (var run_id). Every way goes through the same steps:

    on-run-start  begin_settlement_run(): the day must have ended, the pipeline lease must be free
                  (pipeline_runs, migration 0011), and the days before must be settled, or the run is
                  refused, naming them and the command that settles them;
    every model   renew_settlement_run(): the lease stays ours (a run that lost it stops there);
    on-run-end    publish_settlement_run(): if every node succeeded, one transaction swaps in everything
                  readers see for the day (the `publish` models, built meanwhile in the build schema),
                  marks the day settled and the run SUCCEEDED; else the run is FAILED and nothing moves.
-#}

{#- Whether this invocation settles a day: dbt build or dbt run, executing. -#}
{% macro is_settlement_run() -%}
    {{ return(execute and flags.WHICH in ('build', 'run')) }}
{%- endmacro %}

{#- A SQL string literal of any text (quotes doubled). -#}
{% macro sql_text(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{#- The run `settlement run` began for this invocation (none: a plain dbt build begins its own). -#}
{% macro settlement_run_id() -%}
    {%- set run_id = var('run_id', none) -%}
    {%- if run_id is none and execute -%}
        {%- set run_id = env_var('SETTLEMENT_RUN_ID', '') or none -%}
    {%- endif -%}
    {{ return(run_id | int if run_id is not none else none) }}
{%- endmacro %}

{% macro lease_interval() -%}
    make_interval(secs => {{ var('run_lease_seconds') | int }})
{%- endmacro %}

{% macro begin_settlement_run() %}
    {%- if not is_settlement_run() -%}
        {{ return('') }}
    {%- endif -%}
    {%- set day = settlement_run_date() -%}
    {%- do run_query(create_fold_watch_events(model_relation('int_pair_daily').schema)) -%}
    {%- if settlement_run_id() is not none -%}
        {#- `settlement run` began the run, having planned the days and checked their rules -#}
        {%- set run_id = settlement_run_id() -%}
        {%- set joined = run_query("select join_settlement_run(" ~ run_id ~ ", '" ~ invocation_id ~ "', "
                                   ~ lease_interval() ~ ")").columns[0].values()[0] | string -%}
        {%- if joined != day -%}
            {{ exceptions.raise_compiler_error("run " ~ run_id ~ " settles " ~ joined ~ ", not " ~ day) }}
        {%- endif -%}
    {%- else -%}
        {%- set run_id = run_query(
                "select begin_settlement_run('" ~ day ~ "', 'dbt', " ~ lease_interval() ~ ", '" ~ var('time_zone') ~ "')"
            ).columns[0].values()[0] -%}
        {%- do run_query("update pipeline_runs set invocation_id = '" ~ invocation_id ~ "' where id = " ~ run_id) -%}
    {%- endif -%}
    {%- do drop_staged_relations() -%}
    {%- set problems = require_configured_rules() -%}
    {%- if problems -%}
        {%- do refuse_run(run_id, "cannot settle " ~ day ~ ": " ~ problems | join('; ')) -%}
    {%- endif -%}
    {%- set problem = run_query("select settlement_rules_problem('" ~ day ~ "', " ~ settlement_rules_sql() ~ ", "
                                ~ new_rules() ~ ")").columns[0].values()[0] -%}
    {%- if problem -%}
        {%- do refuse_run(run_id, problem) -%}
    {%- endif -%}
    {%- if settlement_run_id() is none -%}
        {%- do refuse_days_out_of_order(run_id, day) -%}
    {%- endif -%}
    {{ log("settling " ~ day ~ " (run " ~ run_id ~ ")", info=true) }}
    {{ return('') }}
{% endmacro %}

{#- A plain dbt build settles one day, in order: none settled after it (they would rest on it as it was),
    and every one before it settled and up to date. (`settlement run` plans the days itself.) -#}
{% macro refuse_days_out_of_order(run_id, day) %}
    {%- set later = run_query(
            "select min(day)::text, max(day)::text, count(*) from settled_days where day > '" ~ day ~ "'").rows[0] -%}
    {%- if later[2] > 0 -%}
        {%- do refuse_run(run_id, "cannot settle " ~ day ~ " again alone: " ~ later[0] ~ (" .. " ~ later[1] if later[2] > 1 else "")
            ~ ", settled after it, would rest on it as it was (their numbers follow from it: lifetime views, the view window); "
            ~ "run `settlement run --date " ~ day ~ "`, which settles them again after it, in order") -%}
    {%- endif -%}
    {%- set before = run_query(
            "select min(d)::text, max(d)::text, count(d) from unnest(days_to_settle_before('" ~ day ~ "', "
            ~ var('late_event_horizon_days') ~ ", '" ~ var('time_zone') ~ "', " ~ quality_slack() ~ ")) as d"
        ).rows[0] -%}
    {%- if before[2] > 0 -%}
        {%- do refuse_run(run_id, "cannot settle " ~ day ~ " yet: " ~ before[0] ~ (" .. " ~ before[1] if before[2] > 1 else "")
            ~ " must be settled first (not settled yet, settled again before it, or events arrived after they were); "
            ~ "run `settlement run --date " ~ day ~ "` (it settles them in order), or `dbt build --vars '{run_date: "
            ~ before[0] ~ "}'` and each day after it") -%}
    {%- endif -%}
{% endmacro %}

{#- Ends the run FAILED with the reason, which stops dbt (nothing is built or published). -#}
{% macro refuse_run(run_id, message) %}
    {%- do run_query("select finish_settlement_run(" ~ run_id ~ ", 'FAILED', " ~ sql_text(message) ~ ", null, null)") -%}
    {{ exceptions.raise_compiler_error(message) }}
{% endmacro %}

{#- new_rules: this run settles a day under new rules as part of settling every open day again under them
    (`settlement run --rebuild`), which the rules check lets through. -#}
{% macro new_rules() -%}
    {{ 'true' if var('new_rules', false) else 'false' }}
{%- endmacro %}

{#- The day is settled, under the run's rules (in the transaction that publishes it). In a rebuild (var
    rebuild), in the rebuild's own record, which becomes settled_days when it is swapped in
    (settlement/rebuild.py). -#}
{% macro record_settled_day(run_id) -%}
    insert into {{ (var('analytics_schema') ~ '.rebuilt_days') if var('rebuild', false) else 'settled_days' }} (day, run_id, run_started_at, rules)
    select run_date, id, started_at, {{ settlement_rules_sql(with_tiers=true) }} from pipeline_runs where id = {{ run_id }}
    on conflict (day) do update
        set run_id = excluded.run_id, run_started_at = excluded.run_started_at, settled_at = settlement_clock(),
            rules = excluded.rules;
{%- endmacro %}

{#- A model's pre-hook: the run still holds the pipeline, and shows it is alive. -#}
{% macro renew_settlement_run() -%}
    {%- if is_settlement_run() -%}
        select renew_settlement_run('{{ invocation_id }}', {{ lease_interval() }})
    {%- endif -%}
{%- endmacro %}

{% macro publish_settlement_run(results) %}
    {%- if not is_settlement_run() -%}
        {{ return('') }}
    {%- endif -%}
    {%- set run = run_query("select id from pipeline_runs where invocation_id = '" ~ invocation_id ~ "' and status = 'RUNNING'") -%}
    {%- if run.rows | length == 0 -%}
        {{ return('') }}
    {%- endif -%}
    {%- set run_id = run.columns[0].values()[0] -%}
    {%- set problems = [] -%}
    {%- set built = [] -%}
    {%- set row_counts = {} -%}
    {%- for result in results -%}
        {%- if result.status in ('error', 'fail', 'runtime error', 'skipped') -%}
            {%- do problems.append(result.node.name ~ ": " ~ (result.message or result.status)) -%}
        {%- elif result.node.resource_type == 'model' -%}
            {%- do built.append(result.node.name) -%}
            {%- set rows = (result.adapter_response or {}).get('rows_affected') -%}
            {%- if rows is not none and rows >= 0 -%}
                {%- do row_counts.update({result.node.name: rows}) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set unbuilt = published_models() | map(attribute='name') | reject('in', built) | list -%}
    {%- if unbuilt and not problems -%}
        {%- do problems.append("not built in this run, so nothing is published: " ~ unbuilt | join(', ')) -%}
    {%- endif -%}
    {%- if problems -%}
        {%- do run_query("select finish_settlement_run(" ~ run_id ~ ", 'FAILED', " ~ sql_text(problems | join('; '))
                         ~ ", " ~ sql_text(tojson(row_counts)) ~ ", null)") -%}
        {%- do drop_staged_relations() -%}
        {{ return('') }}
    {%- endif -%}
    {%- call statement('publish', fetch_result=False) -%}
        {{ publish_statements(run_id, row_counts) }}
    {%- endcall -%}
    {#- the published periods' statistics follow their rows (the next run's plans read them), after the
        publish, outside its transaction: a sample, milliseconds -#}
    {%- call statement('analyze_published', fetch_result=False) -%}
        {%- for node in published_models() if node.config.materialized == 'period_slice' %}
        analyze {{ model_relation(node.name) }};
        {%- endfor %}
    {%- endcall -%}
    {{ log("published " ~ settlement_run_date() ~ " (run " ~ run_id ~ ")", info=true) }}
    {{ return('') }}
{% endmacro %}

{#- One transaction: the publish lock (readers of results hold it shared, so they see a day all old or
    all new), the lease (a run that lost it publishes nothing), every published model's swap, the
    settled day, the run's outcome. -#}
{% macro publish_statements(run_id, row_counts) -%}
    begin;
    select pg_advisory_xact_lock(settlement_lock_key('publish'));
    do $fence$ begin
        perform 1 from pipeline_runs where id = {{ run_id }} and status = 'RUNNING' for update;
        if not found then
            raise exception 'settlement run {{ run_id }} lost the pipeline lease before publishing: nothing published'
                using errcode = '55P03';
        end if;
    end $fence$;
    do $rules$ declare problem text := settlement_rules_problem({{ run_date() }}, {{ settlement_rules_sql(with_tiers=true) }}, {{ new_rules() }});
    begin
        if problem is not null then
            raise exception '%: nothing published', problem using errcode = '22023';
        end if;
    end $rules$;
    {% for node in published_models() -%}
        {{ publish_model(node) }}
    {% endfor -%}
    {{ record_settled_day(run_id) }}
    select finish_settlement_run({{ run_id }}, 'SUCCEEDED', null, {{ sql_text(tojson(row_counts)) }},
        (select coalesce(jsonb_object_agg(source, quarantined_by_reason), '{}')
         from {{ model_relation('fct_event_intake_daily') }} where settled_on = {{ run_date() }}));
    commit;
{%- endmacro %}
