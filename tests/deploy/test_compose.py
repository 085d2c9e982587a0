"""docker-compose.yml and the Dockerfile: Docker does not run here, so these tests read the files and
run each service's own command, unchanged, against a fresh test database."""

import datetime as dt
import signal
import subprocess
import sys
import time
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
from alembic.script import ScriptDirectory
from psycopg.conninfo import conninfo_to_dict

from settlement import cli, clock, migrations
from settlement.config import PROJECT_ROOT, EngineSettings
from settlement.generate import GenerateConfig, generate
from settlement.migrations import alembic_config
from tests.deploy.compose import MissingVariable, Process, load_compose, local_command, service_environment
from tests.servers import free_port

pytestmark = pytest.mark.serial

SECRETS = {
    "POSTGRES_PASSWORD": "pg-secret-0123",
    "SETTLEMENT_JWT_SECRET": "jwt-secret-of-at-least-32-bytes-0123456789",
    "SETTLEMENT_OPS_TOKEN": "ops-token-0123",
}
APP_SERVICES = ("migrate", "api", "scheduler")
STARTUP_SECONDS = 60


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose(SECRETS)


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def test_the_stack_is_postgres_15_a_migration_the_api_and_the_scheduler(services):
    assert set(services) == {"db", *APP_SERVICES}
    assert services["db"]["image"] == "postgres:15"
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert {services[name]["command"][1] for name in APP_SERVICES} == {"db", "serve", "scheduler"}
    assert services["migrate"]["command"] == ["settlement", "db", "upgrade"]
    assert services["scheduler"]["command"] == ["settlement", "scheduler"]
    assert services["api"]["command"][:2] == ["settlement", "serve"]
    for name in APP_SERVICES:
        assert services[name]["build"] == "."


def test_services_start_in_order(services):
    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert services["migrate"]["restart"] == "no"
    for name in ("api", "scheduler"):
        assert services[name]["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
        assert services[name]["restart"] == "unless-stopped"


def test_every_app_service_reaches_the_compose_database(services):
    db_environment = services["db"]["environment"]
    for name in APP_SERVICES:
        url = conninfo_to_dict(services[name]["environment"]["DATABASE_URL"])
        assert (url["host"], url["port"], url["user"], url["password"], url["dbname"]) == (
            "db",
            "5432",
            db_environment["POSTGRES_USER"],
            SECRETS["POSTGRES_PASSWORD"],
            db_environment["POSTGRES_DB"],
        )
    api = services["api"]["environment"]
    assert (api["SETTLEMENT_JWT_SECRET"], api["SETTLEMENT_OPS_TOKEN"]) == (
        SECRETS["SETTLEMENT_JWT_SECRET"],
        SECRETS["SETTLEMENT_OPS_TOKEN"],
    )


@pytest.mark.parametrize("missing", ["POSTGRES_PASSWORD", "SETTLEMENT_JWT_SECRET"])
def test_secrets_have_no_defaults(missing):
    with pytest.raises(MissingVariable, match=missing):
        load_compose({name: value for name, value in SECRETS.items() if name != missing})


def test_service_commands_are_commands_of_the_cli(services):
    for name in APP_SERVICES:
        command = services[name]["command"]
        assert command[0] == "settlement"
        # Click parses every option before the eager --help answers: an unknown subcommand or option fails
        assert cli.main([*command[1:], "--help"]) == 0, command


def test_the_image_installs_the_project_where_its_files_are_and_serves_the_api_by_default(services):
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "\nFROM python:3.11" in dockerfile
    # the code finds alembic.ini and the dbt project next to its package: an editable install in /app
    assert "WORKDIR /app" in dockerfile and "pip install --no-deps -e ." in dockerfile
    assert "\nUSER settlement" in dockerfile
    cmd = dockerfile.split("\nCMD ", 1)[1].splitlines()[0]
    assert cmd == '["' + '", "'.join(services["api"]["command"]) + '"]'
    ignored = (PROJECT_ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".data", ".env", ".git"} <= set(ignored)


@pytest.fixture(scope="module")
def migrated_url(fresh_database, services) -> str:
    """A database migrated by the migrate service's own command."""
    url = fresh_database("settlement_deploy")
    done = subprocess.run(
        local_command(services["migrate"]["command"]),
        env=service_environment(services["migrate"], url),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return url


def test_migrate_brings_the_database_to_the_newest_revision(migrated_url):
    head = ScriptDirectory.from_config(alembic_config(migrated_url)).get_current_head()
    with psycopg.connect(migrated_url) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == head


def test_the_scheduler_comes_up_and_stops_cleanly_on_sigterm(services, migrated_url):
    scheduler = Process(services["scheduler"]["command"], service_environment(services["scheduler"], migrated_url))
    try:
        assert scheduler.wait_for("scheduler started", STARTUP_SECONDS), scheduler.output
        assert "refresh_ads at" in scheduler.output and "settle_yesterday at" in scheduler.output
        # the ads are refreshed once at start
        assert scheduler.wait_for("attempt 1/3 succeeded", STARTUP_SECONDS), scheduler.output
        assert "refresh_ads for" in scheduler.output
    finally:
        code = scheduler.stop()
    assert code == 0, scheduler.output
    assert "scheduler stopped" in scheduler.output


def test_the_scheduler_refuses_an_unmigrated_database(services, fresh_database):
    scheduler = Process(
        services["scheduler"]["command"], service_environment(services["scheduler"], fresh_database("settlement_empty"))
    )
    assert scheduler.popen.wait(timeout=STARTUP_SECONDS) == 1
    assert "the database has no schema yet" in scheduler.output and "run `settlement db upgrade` first" in scheduler.output


def test_the_api_is_healthy_when_ready_and_the_file_names_its_compose_version(services):
    assert services["api"]["healthcheck"]["test"][:2] == ["CMD", "python"]
    assert "http://127.0.0.1:8000/readyz" in services["api"]["healthcheck"]["test"][-1]
    assert "Docker Compose v2.24" in (PROJECT_ROOT / "docker-compose.yml").read_text().split("\nname:")[0]


def api_healthcheck(service: dict, port: int) -> subprocess.CompletedProcess:
    """The service's healthcheck command, run here against the API on a local port."""
    _, _, *arguments = service["healthcheck"]["test"]
    arguments = [argument.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for argument in arguments]
    return subprocess.run([sys.executable, *arguments], capture_output=True, text=True, timeout=30)


def with_option(command: list[str], option: str, value: str) -> list[str]:
    at = command.index(option)
    return [*command[: at + 1], value, *command[at + 2 :]]


def test_scheduler_jobs_run_once_from_the_command_line(services, migrated_url):
    command = [*local_command(services["scheduler"]["command"]), "--run", "refresh-ads"]
    done = subprocess.run(
        command,
        env=service_environment(services["scheduler"], migrated_url),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "refresh_ads for" in done.stderr and "attempt 1/3 succeeded" in done.stderr


def test_a_scheduled_settlement_is_served_to_operators(services, migrated_url):
    """The scheduler's settle job (the real pipeline, on an empty day), then the API process reading it."""
    settle = subprocess.run(
        [*local_command(services["scheduler"]["command"]), "--run", "settle-yesterday"],
        env=service_environment(services["scheduler"], migrated_url),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert settle.returncode == 0, settle.stderr
    platform_zone = ZoneInfo(EngineSettings.model_fields["time_zone"].default)  # the services set no time zone
    yesterday = clock.yesterday(platform_zone)

    port = free_port()
    # the service's command, bound to a free local port instead of the container's 0.0.0.0:8000
    command = with_option(with_option(services["api"]["command"], "--host", "127.0.0.1"), "--port", str(port))
    api = Process(command, service_environment(services["api"], migrated_url))
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_SECONDS
        docs = None
        while time.monotonic() < deadline and api.popen.poll() is None:
            try:
                docs = httpx.get(f"{base}/docs", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert docs is not None and docs.status_code == 200, api.output
        healthcheck = api_healthcheck(services["api"], port)
        assert healthcheck.returncode == 0, healthcheck.stderr
        runs = httpx.get(f"{base}/ops/runs", headers={"Authorization": f"Bearer {SECRETS['SETTLEMENT_OPS_TOKEN']}"}, timeout=5)
        assert runs.status_code == 200, runs.text
        [run] = runs.json()["items"]
        assert (run["run_date"], run["trigger"], run["status"]) == (yesterday.isoformat(), "scheduler", "SUCCEEDED")
        assert run["seconds"] > 0 and run["row_counts"]
    finally:
        code = api.stop()
    # uvicorn shuts down gracefully, then re-raises the signal it got
    assert code in (0, -signal.SIGTERM), api.output
    assert "Application shutdown complete" in api.output


def scheduler_settling_soon(service: dict, database_url: str, settings: EngineSettings) -> "Process":
    """The scheduler, started with its settle time a few seconds ahead and up by then (it starts in about
    a second); started again with more lead when it was not: a cron job whose time passed before the
    scheduler started fires only the next day."""
    for lead_seconds in (5, 20, 60):
        settle_at = (clock.now().astimezone(settings.zone) + dt.timedelta(seconds=lead_seconds)).replace(microsecond=0)
        environment = {
            **service_environment(service, database_url),
            "SETTLEMENT_SCHEDULER_SETTLE_AT": settle_at.strftime("%H:%M:%S"),
        }
        scheduler = Process(service["command"], environment)
        assert scheduler.wait_for("scheduler started", STARTUP_SECONDS), scheduler.output
        if clock.now() < settle_at - dt.timedelta(seconds=1):
            return scheduler
        scheduler.stop()
    raise AssertionError(f"the scheduler took over a minute to start: {scheduler.output}")


def test_sigterm_during_a_scheduled_settlement_finishes_the_day_and_exits_promptly(services, fresh_database):
    """Three days to settle at the scheduled time; SIGTERM once the first is under way: that day is
    published, no further day is begun, nothing is retried, and the process exits at once after it."""
    migrated_url = fresh_database("settlement_deploy")
    migrations.upgrade(migrated_url)
    settings = EngineSettings(_env_file=None, database_url=migrated_url)
    yesterday = clock.today(settings.zone) - dt.timedelta(days=1)
    generate(
        migrated_url,
        GenerateConfig(videos=30, users=300, days=3, events_per_day=3_000, seed=7, first_day=yesterday - dt.timedelta(days=2)),
        progress=False,
        settings=settings,
    )
    scheduler = scheduler_settling_soon(services["scheduler"], migrated_url, settings)
    try:
        with psycopg.connect(migrated_url, autocommit=True) as conn:
            deadline = time.monotonic() + 60
            while not conn.execute("SELECT 1 FROM pipeline_runs WHERE status = 'RUNNING'").fetchone():
                assert time.monotonic() < deadline and scheduler.popen.poll() is None, scheduler.output
                time.sleep(0.05)
            signalled = time.monotonic()
            code = scheduler.stop(timeout=120)
            stopped_after = time.monotonic() - signalled
            runs = conn.execute("SELECT run_date, status FROM pipeline_runs ORDER BY id").fetchall()
            settled = [day for (day,) in conn.execute("SELECT day FROM settled_days ORDER BY day")]
    finally:
        scheduler.stop()
    assert code == 0, scheduler.output
    assert runs == [(yesterday - dt.timedelta(days=2), "SUCCEEDED")], (runs, scheduler.output)
    assert settled == [yesterday - dt.timedelta(days=2)]
    assert "cannot schedule new futures" not in scheduler.output and "retrying" not in scheduler.output
    assert stopped_after < 60, stopped_after  # the day's own time, not retries' backoff
