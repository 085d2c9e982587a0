"""Runtime configuration (environment variables, SETTLEMENT_<NAME>, or a `.env` file): one class per
process kind, one name per setting.

- `CommonSettings`: what every process needs: the database (given, or a local or embedded server) and the
  engine's rules (`pipeline.RULE_NAMES`), which the API applies too when it records events.
- `EngineSettings(CommonSettings)`: the engine's, the CLI's and the scheduler's; `get_settings()`.
- `api.config.ApiSettings(CommonSettings)`: the API's (`settlement serve`); `api.config.get_api_settings()`.
  The library (settlement/, but its CLI) never imports it, nor anything else of api/.
"""

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _engine_defaults() -> dict[str, Any]:
    """The engine's rules as dbt_project.yml states them (its vars): one place for both a plain
    `dbt build` and the settings below, which take them as defaults."""
    import yaml

    engine_vars: dict[str, Any] = yaml.safe_load((PROJECT_ROOT / "dbt_project.yml").read_text())["vars"]
    return engine_vars


ENGINE_DEFAULTS = _engine_defaults()
ENV_PREFIX = "SETTLEMENT_"


def read_from(name: str, formerly: str) -> AliasChoices:
    """A setting's environment variable, SETTLEMENT_<NAME>, and the one it had before (still read)."""
    return AliasChoices(f"{ENV_PREFIX}{name.upper()}", f"{ENV_PREFIX}{formerly}")


class CommonSettings(BaseSettings):
    """What every process reads: the database, and the engine's rules (the API records events by them)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "SETTLEMENT_DATABASE_URL"),
        description="Use this server and database; when unset, a local or embedded server is found.",
    )
    local_server_host: str = "127.0.0.1"
    local_server_port: int = 5432
    local_server_user: str = "postgres"
    database_name: str = "settlement"
    embedded_data_dir: Path = Path(".data/pg")

    # The engine's rules have the names of the dbt project's vars (dbt_project.yml), which they are passed as;
    # the environment variables they had before that are still read (read_from).
    time_zone: str = Field(
        default=ENGINE_DEFAULTS["time_zone"],
        validation_alias=read_from("time_zone", formerly="TIMEZONE"),
        description="The platform's calendar time zone.",
    )
    view_window_hours: int = Field(
        default=ENGINE_DEFAULTS["view_window_hours"],
        description="A START counts as a view when its (user, video) pair had no event this long before it.",
    )
    clock_skew_seconds: int = Field(
        default=ENGINE_DEFAULTS["clock_skew_seconds"],
        ge=0,
        validation_alias=read_from("clock_skew_seconds", formerly="PLAYBACK_MAX_CLOCK_SKEW_SECONDS"),
        description="How far in the future a client's occurred_at may be.",
    )
    watched_slack_seconds: int = Field(
        default=ENGINE_DEFAULTS["watched_slack_seconds"],
        ge=0,
        validation_alias=read_from("watched_slack_seconds", formerly="QUALITY_WATCHED_SLACK_SECONDS"),
        description="How much more than the time since the pair's previous event an event may report as watched.",
    )
    ad_slot_seconds: int = Field(
        default=ENGINE_DEFAULTS["ad_slot_seconds"],
        ge=1,
        validation_alias=read_from("ad_slot_seconds", formerly="AD_SLOT_INTERVAL_SECONDS"),
        description="Ad slot k plays at k times this.",
    )

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("view_window_hours")
    @classmethod
    def _window_of_at_least_a_day(cls, value: int) -> int:
        # The engine finds views from each (user, video) pair's first event of the day, which is
        # exact only when the window is at least one day long.
        if not 24 <= value <= 24 * 31:
            raise ValueError("view_window_hours must be between 24 and 744")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


class EngineSettings(CommonSettings):
    """The engine's (the CLI's and the scheduler's): how runs settle days, and when the scheduler runs them."""

    late_event_horizon_days: int = Field(
        default=ENGINE_DEFAULTS["late_event_horizon_days"],
        ge=1,
        le=366,
        description="How many days back a run looks for late events of settled days (and restates them).",
    )
    run_lease_seconds: int = Field(
        default=ENGINE_DEFAULTS["run_lease_seconds"],
        ge=10,
        description="A settlement run that shows no sign of life this long loses the pipeline to the next.",
    )
    run_confirm_days: int = Field(
        default=7, ge=1, description="`settlement run` asks for --yes before settling more days than this."
    )
    scheduler_ads_refresh_at: dt.time = Field(default=dt.time(0, 0), description="Platform time of the ad refresh.")
    scheduler_settle_at: dt.time = Field(default=dt.time(0, 30), description="Platform time of settling yesterday.")
    scheduler_retry_attempts: int = Field(default=3, ge=1, le=20, description="Tries of a failing scheduled job.")
    scheduler_retry_base_seconds: float = Field(
        default=60.0, ge=0, description="Wait before the 2nd try; doubles before each further one."
    )


@lru_cache
def get_settings() -> EngineSettings:
    return EngineSettings()
