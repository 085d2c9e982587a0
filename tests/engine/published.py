"""The models a settlement run publishes (config publish=true: what readers see), for the tests that
compare published states. Read from the model files, so that a module can name them at import;
tests/engine/test_dbt_project.py checks the list against the parsed project, as dbt sees it."""

import re

from settlement.config import PROJECT_ROOT

PUBLISH_CONFIG = re.compile(r"\bpublish\s*=\s*true\b")

PUBLISHED = tuple(
    sorted(path.stem for path in (PROJECT_ROOT / "models").rglob("*.sql") if PUBLISH_CONFIG.search(path.read_text()))
)
