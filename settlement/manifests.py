"""Parsed dbt projects, kept for the next run: a parse takes seconds, a stored one milliseconds.

A parse depends on the project's files, dbt's version and the vars it was given, and names the database
its relations live in. So one parse serves every database: a manifest stored for one (in memory and in
target/parsed/, for the next process) is bound to another by naming its relations again."""

import hashlib
import json
import os
import tempfile
from importlib import metadata
from typing import TYPE_CHECKING, Any

from settlement.config import PROJECT_ROOT

if TYPE_CHECKING:
    from dbt.contracts.graph.manifest import Manifest

# What dbt reads when it parses the project (dbt_project.yml's paths, the profile, the selectors).
PROJECT_FOLDERS = ("models", "macros", "seeds", "data_tests")
PROJECT_FILES = ("dbt_project.yml", "profiles.yml", "selectors.yml", "packages.yml")
STORE = PROJECT_ROOT / "target" / "parsed"
KEPT = 16  # stored parses at most (each ~1.5 MB): the newest; an edit of the project is a parse of its own


def fingerprint(variables: dict[str, Any]) -> str:
    """The parse's identity: dbt's and the adapter's versions, every file dbt reads, the vars."""
    digest = hashlib.sha256()
    for package in ("dbt-core", "dbt-postgres"):
        digest.update(f"{package} {metadata.version(package)}\n".encode())
    digest.update(json.dumps(variables, sort_keys=True, default=str).encode())
    paths = [PROJECT_ROOT / name for name in PROJECT_FILES]
    paths += [path for folder in PROJECT_FOLDERS for path in (PROJECT_ROOT / folder).rglob("*") if path.is_file()]
    for path in sorted(p for p in paths if p.is_file()):
        digest.update(f"\n{path.relative_to(PROJECT_ROOT)}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def load(key: str) -> tuple[str, bytes] | None:
    """A stored parse (the database it names, dbt's own serialization of it), or None."""
    try:
        database, _, serialized = (STORE / f"{key}.msgpack").read_bytes().partition(b"\n")
    except FileNotFoundError:
        return None
    return database.decode(), serialized


def store(key: str, database: str, manifest: "Manifest") -> tuple[str, bytes]:
    """Keeps a parse for later processes, as dbt keeps its own for partial parsing; written whole or not
    at all (processes store at once)."""
    from dbt.parser.manifest import extended_mashumaro_encoder

    serialized = manifest.to_msgpack(extended_mashumaro_encoder)
    STORE.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=STORE, suffix=".partial", delete=False) as partial:
        partial.write(database.encode() + b"\n" + serialized)
    os.replace(partial.name, STORE / f"{key}.msgpack")
    for older in sorted(STORE.glob("*.msgpack"), key=_written_at, reverse=True)[KEPT:]:
        older.unlink(missing_ok=True)
    return database, serialized


def _written_at(path: "os.PathLike[str]") -> float:
    try:
        return os.stat(path).st_mtime
    except FileNotFoundError:  # another process removed it
        return 0.0


def bound(serialized: bytes, parsed_for: str, database: str) -> "Manifest":
    """The stored parse as a manifest of its own, with every relation of parsed_for named in database."""
    from dbt.contracts.graph.manifest import Manifest
    from dbt.parser.manifest import extended_mashumuro_decoder  # (sic)

    manifest = Manifest.from_msgpack(serialized, decoder=extended_mashumuro_decoder)
    if parsed_for != database:
        prefix, replacement = f'"{parsed_for}".', f'"{database}".'
        for node in [*manifest.nodes.values(), *manifest.sources.values()]:
            if node.database == parsed_for:
                node.database = database
            if node.relation_name and node.relation_name.startswith(prefix):
                node.relation_name = replacement + node.relation_name.removeprefix(prefix)
    manifest.build_flat_graph()  # type: ignore[no-untyped-call]  # (the jinja context's `graph`)
    return manifest
