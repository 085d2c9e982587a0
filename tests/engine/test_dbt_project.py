"""The dbt project as a whole: its unit tests pass, its docs build, and everything is described."""

import datetime as dt
import json
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from settlement import pipeline
from settlement.config import PROJECT_ROOT, EngineSettings
from tests.engine.published import PUBLISHED

DAY = dt.date(2026, 11, 23)


@pytest.fixture
def built(conn, database_url) -> EngineSettings:
    """Every model built (on an empty day) in the session database."""
    settings = EngineSettings(_env_file=None, database_url=database_url)
    [result] = pipeline.run_days(settings, DAY)
    assert result.succeeded, result.error
    return settings


def target_dir(database_url: str) -> Path:
    return PROJECT_ROOT / "target" / conninfo_to_dict(database_url)["dbname"]


def test_pricing_unit_tests_pass(built, database_url):
    result = pipeline.invoke_dbt(database_url, ["test", "--select", "test_type:unit"], pipeline.dbt_vars(built, DAY))
    assert result.success, result.exception
    names = {node_result.node.name for node_result in result.result.results}
    assert {
        "video_part_is_priced_position_by_position",
        "video_part_truncates_never_rounds",
        "ad_part_is_priced_from_zero_each_day",
    } <= names


def test_docs_generate_and_every_model_and_column_is_described(built, database_url):
    result = pipeline.invoke_dbt(database_url, ["docs", "generate"], pipeline.dbt_vars(built, DAY))
    assert result.success, result.exception
    manifest = json.loads((target_dir(database_url) / "manifest.json").read_text())
    catalog = json.loads((target_dir(database_url) / "catalog.json").read_text())

    models = {uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] in ("model", "seed")}
    assert len(models) >= 15
    undescribed = [uid for uid, node in models.items() if not node["description"].strip()]
    assert undescribed == []

    # Every column the database has, of every model, seed and source table (the sources' columns are
    # the alembic migrations'): a column added without a description fails here.
    sources = manifest["sources"]
    assert len(sources) >= 12
    assert [uid for uid, source in sources.items() if not source["description"].strip()] == []
    missing_columns, stale_columns = [], []
    for uid, node in {**models, **sources}.items():
        built_columns = {**catalog["nodes"], **catalog["sources"]}.get(uid, {}).get("columns", {})
        assert built_columns, f"{uid} is not in the catalog"
        for column in built_columns:
            documented = node["columns"].get(column, {}).get("description", "").strip()
            if not documented:
                missing_columns.append(f"{node['name']}.{column}")
        stale_columns += [f"{node['name']}.{column}" for column in node["columns"] if column not in built_columns]
    assert missing_columns == []
    assert stale_columns == [], "documented, but the relation has no such column"

    exposures = {node["name"]: node for node in manifest["exposures"].values()}
    assert {"seller_payouts_api", "video_stats_api", "top_videos_api"} <= set(exposures)

    # The docs open on the project's own overview, not dbt's "Welcome!" page.
    overview = manifest["docs"]["doc.settlement.__overview__"]["block_contents"]
    for topic in (
        "## Where to start",
        "## What a view is",
        "## The quality gate",
        "## How pricing works",
        "## Closed days and adjustments",
        "## How days are settled",
    ):
        assert topic in overview


def test_dbt_sessions_run_without_jit(database_url):
    """The server's JIT costs more than it saves on the pipeline's statements; dbt's sessions turn it off."""
    settings = EngineSettings(_env_file=None, database_url=database_url)
    result = pipeline.invoke_dbt(
        database_url, ["show", "--inline", "select current_setting('jit') as jit"], pipeline.dbt_vars(settings, None)
    )
    assert result.success, result.exception
    assert result.result.results[0].agate_table.rows[0][0] == "off"


def test_a_models_checks_stop_the_run_before_anything_is_published(conn, database_url):
    """The row checks of a model's config run in its own transaction on what the run built: a day whose
    rows break one fails at that model, and readers keep what they had."""
    from tests.engine.scenario import Platform, at

    p = Platform(conn)
    video = p.video(p.user("seller", "SELLER"), 600)
    p.event("START", p.user("viewer"), video, at(DAY - dt.timedelta(days=1), 10))
    p.event("START", p.user("viewer2"), video, at(DAY, 10))
    settings = EngineSettings(_env_file=None, database_url=database_url)
    assert all(r.succeeded for r in pipeline.run_days(settings, DAY - dt.timedelta(days=1), DAY))
    published = conn.execute("SELECT * FROM analytics.fct_video_payouts ORDER BY 1, 2, 3").fetchall()
    # the day before as a broken run could leave it: lifetime views that went backwards
    conn.execute(
        "UPDATE analytics.int_video_lifetime_daily SET views_through = -5 WHERE settled_on = %s", (DAY - dt.timedelta(days=1),)
    )

    [stopped] = pipeline.run_days(settings, DAY)

    assert stopped.status == "FAILED" and "int_video_lifetime_daily fails its checks" in stopped.error, stopped.error
    assert "lifetime views add up and only grow" in stopped.error
    assert conn.execute("SELECT * FROM analytics.fct_video_payouts ORDER BY 1, 2, 3").fetchall() == published


def test_the_configured_checks_are_data_tests_too(built, database_url):
    """`dbt test --select test_name:configured_checks` runs every model's checks on its whole table."""
    result = pipeline.invoke_dbt(database_url, ["test", "--select", "test_name:configured_checks"], pipeline.dbt_vars(built, DAY))
    assert result.success, result.exception
    tested = {r.node.attached_node.split(".")[-1] for r in result.result.results if r.node.resource_type == "test"}
    assert {"int_pair_daily_shard_0", "fct_video_daily", "rpt_top_videos"} <= tested


def test_the_published_models_the_tests_compare_are_the_projects(database_url):
    """tests/engine/published.py reads the model files; dbt's parse is what a run publishes."""
    settings = EngineSettings(_env_file=None, database_url=database_url)
    manifest = pipeline.parsed_project(database_url, pipeline.dbt_vars(settings, None))
    published = {node.name for node in manifest.nodes.values() if node.resource_type == "model" and node.config.get("publish")}
    assert set(PUBLISHED) == published and len(PUBLISHED) == len(published)
