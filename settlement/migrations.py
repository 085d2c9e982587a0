"""Schema migrations (alembic) and day partitions, run programmatically."""

import datetime as dt
import importlib.util
from types import ModuleType

import psycopg
from alembic.config import Config
from alembic.script import ScriptDirectory

from alembic import command
from settlement.config import PROJECT_ROOT
from settlement.db import one_row

VERSIONS = PROJECT_ROOT / "alembic" / "versions"


def earlier_migration(file_name: str) -> ModuleType:
    """A migration file of alembic/versions as a module, for a later migration that builds on its SQL
    (alembic's version files are not importable by name)."""
    spec = importlib.util.spec_from_file_location(f"settlement_migration_{file_name[:4]}", VERSIONS / file_name)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(VERSIONS / file_name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    return config


def code_heads() -> set[str]:
    """The schema revisions this code needs (the heads of alembic/versions)."""
    return set(ScriptDirectory.from_config(alembic_config("")).get_heads())


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def schema_problem(database_url: str) -> str | None:
    """Why the database cannot be worked on (its schema is missing or not the code's), or None."""
    heads = set(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())
    with psycopg.connect(database_url) as conn:
        if one_row(conn.execute("SELECT to_regclass('alembic_version')"))[0] is None:
            return "the database has no schema yet"
        current = {row[0] for row in conn.execute("SELECT version_num FROM alembic_version")}
    if current != heads:
        return f"the schema is at revision {', '.join(sorted(current)) or 'none'}, the code needs {', '.join(sorted(heads))}"
    return None


def ensure_day_partitions(conn: psycopg.Connection, first: dt.date, last: dt.date, time_zone: str) -> int:
    created: int = one_row(conn.execute("SELECT ensure_day_partitions(%s, %s, %s)", (first, last, time_zone)))[0]
    return created


SCHEMA_SUMMARY = """
SELECT c.relname AS table_name,
       CASE c.relkind WHEN 'p' THEN 'partitioned' ELSE 'table' END AS kind,
       (SELECT count(*) FROM pg_inherits i WHERE i.inhparent = c.oid) AS partitions,
       (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND c.relname <> 'alembic_version'
ORDER BY c.relname
"""


def schema_summary(conn: psycopg.Connection) -> list[tuple[str, str, int, int]]:
    return conn.execute(SCHEMA_SUMMARY).fetchall()
