"""One parse of the dbt project serves every database and process (settlement.manifests): a run on another
database names only that database, and an edited project file is parsed again."""

import dataclasses
import shutil

from psycopg.conninfo import conninfo_to_dict

from settlement import manifests, pipeline
from settlement.config import EngineSettings


def strings_in(value, seen=None):
    """Every string held anywhere in value (dataclasses, dicts, sequences)."""
    seen = set() if seen is None else seen
    if isinstance(value, str):
        yield value
        return
    if id(value) in seen or isinstance(value, (int, float, bytes, type(None))):
        return
    seen.add(id(value))
    if isinstance(value, dict):
        items = list(value.values())
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
    elif dataclasses.is_dataclass(value):
        items = [getattr(value, f.name, None) for f in dataclasses.fields(value)]
    else:
        return
    for item in items:
        yield from strings_in(item, seen)


def test_a_parse_for_one_database_serves_another_naming_only_it(fresh_database, monkeypatch):
    first, second = fresh_database("parse_a"), fresh_database("parse_b")
    variables = pipeline.dbt_vars(EngineSettings(_env_file=None, database_url=first), None)
    pipeline.parsed_project(first, variables)
    parses = []
    real_invoke = pipeline.invoke_dbt
    monkeypatch.setattr(
        pipeline, "invoke_dbt", lambda url, args, *rest, **named: parses.append(args) or real_invoke(url, args, *rest, **named)
    )
    monkeypatch.setattr(pipeline, "_parses", {})  # as in a new process: only the stored parse is left

    manifest = pipeline.parsed_project(second, variables)

    assert parses == []
    first_name, second_name = (conninfo_to_dict(url)["dbname"] for url in (first, second))
    assert not [text for text in strings_in(manifest) if first_name in text]
    relations = [node.relation_name for node in [*manifest.nodes.values(), *manifest.sources.values()] if node.relation_name]
    assert relations
    assert all(relation.startswith(f'"{second_name}".') for relation in relations)
    assert manifest.flat_graph["nodes"], "the jinja context's graph is built"


def test_a_project_file_changed_is_a_parse_of_its_own(tmp_path, monkeypatch):
    project = tmp_path / "project"
    for name in manifests.PROJECT_FOLDERS:
        shutil.copytree(manifests.PROJECT_ROOT / name, project / name)
    for name in manifests.PROJECT_FILES:
        if (manifests.PROJECT_ROOT / name).exists():
            shutil.copy(manifests.PROJECT_ROOT / name, project / name)
    monkeypatch.setattr(manifests, "PROJECT_ROOT", project)
    variables = {"time_zone": "Asia/Seoul"}
    before = manifests.fingerprint(variables)
    assert manifests.fingerprint(variables) == before
    assert manifests.fingerprint({"time_zone": "UTC"}) != before

    model = next((project / "models").rglob("*.sql"))
    model.write_text(model.read_text() + "\n")
    edited = manifests.fingerprint(variables)
    assert edited != before
    (project / "macros" / "new_macro.sql").write_text("{% macro new_macro() %}1{% endmacro %}")
    assert manifests.fingerprint(variables) not in (before, edited)
