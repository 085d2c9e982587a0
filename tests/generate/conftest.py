import datetime as dt

import psycopg
import pytest

from settlement import migrations
from settlement.config import EngineSettings
from settlement.generate import GenerateConfig, generate

SMALL = GenerateConfig(videos=60, users=400, days=3, events_per_day=1_500, seed=11, first_day=dt.date(2026, 3, 1))


def settings_for(url: str) -> EngineSettings:
    return EngineSettings(_env_file=None, database_url=url)


@pytest.fixture(scope="session")
def migrated_database(fresh_database):
    """A factory of empty, migrated databases."""

    def make() -> str:
        url = fresh_database("settlement_generate")
        migrations.upgrade(url)
        return url

    return make


@pytest.fixture(scope="session")
def generated(migrated_database):
    """SMALL generated once into its own database: (url, report)."""
    url = migrated_database()
    report = generate(url, SMALL, progress=False, settings=settings_for(url))
    return url, report


@pytest.fixture
def generated_conn(generated):
    with psycopg.connect(generated[0]) as conn:
        yield conn
