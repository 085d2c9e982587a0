"""How much the generated (hypothesis) tests explore: HYPOTHESIS_PROFILE=default (make test: a few
examples each, under a minute) or long (local runs: many). Failing examples are kept in the repository's
example database (tests/hypothesis-examples, committed), so a bug found once stays a test: every run
replays them first."""

import os

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

from settlement.config import PROJECT_ROOT

EXAMPLE_DATABASE = DirectoryBasedExampleDatabase(str(PROJECT_ROOT / "tests" / "hypothesis-examples"))
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")

for name in ("default", "long"):
    settings.register_profile(
        name,
        database=EXAMPLE_DATABASE,
        deadline=None,  # a settlement takes seconds, and the machine is shared
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
        print_blob=True,
    )
settings.load_profile(PROFILE)


def examples(in_make_test: int, long: int) -> int:
    """The number of examples a generated test runs under the current profile."""
    return long if PROFILE == "long" else in_make_test
