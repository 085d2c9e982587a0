"""Every relation the API's SQL reads from schema analytics is in an exposure, together with the
platform tables the same statement reads: a new read without its exposure fails here.

The SQL is found by reading the syntax tree of every module under api/ (string literals and the literal
parts of f-strings), so reads added or moved in the API are picked up without a list in this test. A query
given to warehouse.analytics_sql names its relations as {name}: the scan reads those as analytics.name."""

import ast
import re
from collections.abc import Iterator

import pytest

from settlement import pipeline, warehouse
from settlement.config import PROJECT_ROOT, EngineSettings

API = PROJECT_ROOT / "api"
NAME = r'"?([A-Za-z_][A-Za-z0-9_]*)"?'
ANALYTICS_READ = re.compile(rf"\banalytics\s*\.\s*{NAME}", re.IGNORECASE)
# An unqualified (or public.) table after FROM / JOIN, not a function call: a platform table, or a CTE.
PLAIN_READ = re.compile(rf"\b(?:from|join)\s+(?:public\s*\.\s*)?{NAME}(?!\s*[.(])", re.IGNORECASE)
# warehouse.analytics_sql's placeholder for an analytics relation (its own pattern, once the f-string is read).
PLACEHOLDER = re.compile(r"(?<!\{)\{(\w+)\}")
CTE = re.compile(rf"(?:\bwith(?:\s+recursive)?|,)\s*{NAME}\s+as\s*(?:(?:not\s+)?materialized\s*)?\(", re.IGNORECASE)


def literal_text(node: ast.expr) -> str | None:
    """The text of a string literal; an f-string's literal parts joined, with `?` for what is interpolated."""
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else " ? " for part in node.values)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def is_analytics_sql_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call) or not node.args:
        return False
    name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
    return name == warehouse.analytics_sql.__name__


def sql_literals(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) of each string literal of a module but docstrings; the query of an analytics_sql call
    with its {name} placeholders written as analytics.name."""
    tree = ast.parse(source)
    skip = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}  # docstrings
    skip |= {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
    queries = {id(node.args[0]) for node in ast.walk(tree) if is_analytics_sql_call(node)}
    for node in ast.walk(tree):
        text = None if id(node) in skip else literal_text(node)
        if text is None:
            continue
        if id(node) in queries:
            text = PLACEHOLDER.sub(r"analytics.\1", text)
        yield node.lineno, text


def statement_reads(text: str, source_tables: set[str]) -> tuple[set[str], set[str]]:
    """(the analytics relations a statement reads, the platform tables it reads beside them)."""
    analytics = {name.lower() for name in ANALYTICS_READ.findall(text)}
    if not analytics:
        return set(), set()
    ctes = {name.lower() for name in CTE.findall(text)}
    plain = {name.lower() for name in PLAIN_READ.findall(text)} - ctes
    return analytics, plain & source_tables


def api_reads(source_tables: set[str]) -> list[tuple[str, set[str], set[str]]]:
    """(where, analytics relations, platform tables) of every statement under api/ that reads analytics."""
    reads = []
    for path in sorted(API.rglob("*.py")):
        for line, text in sql_literals(path.read_text()):
            analytics, platform = statement_reads(text, source_tables)
            if analytics:
                reads.append((f"{path.relative_to(PROJECT_ROOT)}:{line}", analytics, platform))
    return reads


def test_the_scan_finds_reads_of_results_and_the_tables_beside_them():
    module = '''
QUERY = f"""
    WITH ads AS (SELECT video_id FROM analytics.fct_video_ad_payouts)
    SELECT {", ".join(COLUMNS)}, extract(epoch FROM finished_at - started_at)
    FROM analytics."new_mart" m
    JOIN videos v ON v.id = m.video_id
    LEFT JOIN ads ON ads.video_id = m.video_id
    LEFT JOIN public.users u ON u.id = v.seller_id
    CROSS JOIN LATERAL unnest(m.ids) AS ids
"""
OTHER = "SELECT * FROM videos"
COMPOSED = warehouse.analytics_sql(f"SELECT {COLUMNS} FROM {{fct_seller_statements}} JOIN users ON true")
FORMATTED = "SELECT * FROM {platform_table}".format(platform_table="videos")


def f():
    """Reads analytics.documented_only (a docstring, not SQL)."""
'''
    [(line, text), (composed_line, composed)] = [(line, text) for line, text in sql_literals(module) if "analytics" in text]
    assert line == 2
    analytics, platform = statement_reads(text, {"videos", "users", "ads"})
    assert analytics == {"fct_video_ad_payouts", "new_mart"}
    assert platform == {"videos", "users"}  # `ads` is the statement's CTE, not the platform table
    assert composed_line == 12
    assert statement_reads(composed, {"videos", "users"}) == ({"fct_seller_statements"}, {"users"})


@pytest.fixture(scope="module")
def manifest(database_url):
    settings = EngineSettings(_env_file=None, database_url=database_url)
    result = pipeline.invoke_dbt(database_url, ["parse"], pipeline.dbt_vars(settings, None))
    assert result.success, result.exception
    return result.result


def test_every_read_of_the_api_is_in_an_exposure(manifest):
    analytics_nodes = {
        node.alias.lower(): uid
        for uid, node in manifest.nodes.items()
        if node.resource_type == "model" and node.schema == warehouse.ANALYTICS_SCHEMA
    }
    source_nodes = {source.identifier.lower(): uid for uid, source in manifest.sources.items() if source.schema == "public"}
    exposures = {exposure.name: set(exposure.depends_on.nodes) for exposure in manifest.exposures.values()}
    reads = api_reads(set(source_nodes))
    assert reads, "no read of schema analytics found under api/: the scan is broken"

    problems = []
    for where, analytics, platform in reads:
        unknown = sorted(name for name in analytics if name not in analytics_nodes)
        if unknown:
            problems.append(f"{where} reads analytics.{', analytics.'.join(unknown)}, which no model builds")
            continue
        needed = {analytics_nodes[name] for name in analytics} | {source_nodes[name] for name in platform}
        if not any(needed <= depends_on for depends_on in exposures.values()):
            best = max(exposures, key=lambda name: len(needed & exposures[name]), default=None)
            missing = sorted(needed - exposures.get(best, set()))
            problems.append(f"{where}: no exposure depends on all it reads; e.g. {best} lacks {missing}")
    assert problems == [], "\n".join(problems)


def test_exposures_read_marts_not_the_engines_working_state(manifest):
    """The API reads the marts, which a run publishes in one transaction (and the platform tables), never
    the engine's working state (staging, intermediate), which changes model by model during a run."""
    for exposure in manifest.exposures.values():
        assert exposure.description.strip(), exposure.name
        for uid in exposure.depends_on.nodes:
            if uid.startswith("source."):
                continue
            node = manifest.nodes[uid]
            assert node.fqn[1] == "marts", f"{exposure.name} depends on {node.name}, which is not a mart"
