import httpx
import pytest

from api.config import ApiSettings
from api.main import create_app

OPS_TOKEN = "ops-test-token-0123456789"


def settings_for(database_url: str, **overrides) -> ApiSettings:
    return ApiSettings(_env_file=None, database_url=database_url, jwt_secret="test-jwt-secret-of-at-least-32-bytes", **overrides)


@pytest.fixture(scope="session")
async def ops_app(database_url):
    application = create_app(settings_for(database_url, ops_token=OPS_TOKEN))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def runs(conn):
    """pipeline_runs, emptied; add(...) inserts a run and returns its id."""
    conn.execute("TRUNCATE pipeline_runs, settled_days RESTART IDENTITY")

    def add(
        run_date,
        status="SUCCEEDED",
        started_at="2026-03-02 00:30:00+09",
        seconds=12.5,
        row_counts="{}",
        error=None,
        trigger="scheduler",
        quarantined="{}",
    ):
        return conn.execute(
            """INSERT INTO pipeline_runs
                   (run_date, trigger, started_at, finished_at, status, row_counts, error, quarantined)
               VALUES (%s, %s, %s::timestamptz,
                       CASE WHEN %s = 'RUNNING' THEN NULL ELSE %s::timestamptz + make_interval(secs => %s) END,
                       %s, %s::jsonb, %s, %s::jsonb)
               RETURNING id""",
            (run_date, trigger, started_at, status, started_at, seconds, status, row_counts, error, quarantined),
        ).fetchone()[0]

    return add


@pytest.fixture
async def client(ops_app, runs):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=ops_app), base_url="http://test") as http:
        yield http
