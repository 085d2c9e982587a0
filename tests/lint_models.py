"""`python -m tests.lint_models [sqlfluff args]`: sqlfluff on the models (`make lint`, `make test`).

Its dbt templater compiles the models as dbt does, which reads the catalog (never writes): on an empty
database of its own, on the server the app itself would pick (DATABASE_URL's, the local one, else the
embedded one: settlement.db.server_url), created when missing, so that what it renders never depends on
what a demo or a test left somewhere."""

import os
import subprocess
import sys
from pathlib import Path

from settlement import db, pipeline
from settlement.config import PROJECT_ROOT, EngineSettings

DATABASE = "sqlfluff_lint"
# Two processes (the machine's cores): about 12 s instead of 19 for one.
COMMAND = ["lint", "models", "--processes", "2"]


def main(args: list[str]) -> int:
    server, _source = db.server_url(EngineSettings())
    db.create_database_if_missing(server, DATABASE)
    env = {**os.environ, **pipeline.dbt_environment(db.with_database(server, DATABASE))}
    sqlfluff = str(Path(sys.executable).with_name("sqlfluff"))  # the venv's, beside this Python
    return subprocess.run([sqlfluff, *(args or COMMAND)], cwd=PROJECT_ROOT, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
