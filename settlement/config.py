"""All runtime configuration, in one place (environment variables or a `.env` file)."""

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator
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


class Settings(BaseSettings):
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

    ops_token: SecretStr | None = Field(
        default=None, description="Bearer token for the /ops endpoints; when unset they answer 403."
    )
    scheduler_ads_refresh_at: dt.time = Field(default=dt.time(0, 0), description="Platform time of the ad refresh.")
    scheduler_settle_at: dt.time = Field(default=dt.time(0, 30), description="Platform time of settling yesterday.")
    scheduler_retry_attempts: int = Field(default=3, ge=1, le=20, description="Tries of a failing scheduled job.")
    scheduler_retry_base_seconds: float = Field(
        default=60.0, ge=0, description="Wait before the 2nd try; doubles before each further one."
    )

    # API (settlement serve)
    jwt_secret: SecretStr | None = Field(
        default=None, description="Signs login tokens; when unset, a random per-process secret (dev only)."
    )
    jwt_ttl_minutes: int = Field(default=60, ge=1, le=60 * 24 * 30, description="Lifetime of a login token.")
    kakao_client_id: str | None = Field(default=None, description="Kakao REST API key; unset disables Kakao login.")
    kakao_client_secret: SecretStr | None = None
    kakao_redirect_uri: str = "http://127.0.0.1:8000/auth/kakao/callback"
    kakao_authorize_url: str = "https://kauth.kakao.com/oauth/authorize"
    kakao_token_url: str = "https://kauth.kakao.com/oauth/token"  # noqa: S105 (an address, not a secret)
    kakao_user_info_url: str = "https://kapi.kakao.com/v2/user/me"
    kakao_state_ttl_seconds: int = Field(default=600, ge=30, description="How long a Kakao login may take.")
    kakao_timeout_seconds: float = Field(default=10.0, gt=0)
    clock_skew_seconds: int = Field(
        default=ENGINE_DEFAULTS["clock_skew_seconds"],
        ge=0,
        validation_alias=read_from("clock_skew_seconds", formerly="PLAYBACK_MAX_CLOCK_SKEW_SECONDS"),
        description="How far in the future a client's occurred_at may be.",
    )
    playback_max_event_age_hours: int = Field(
        default=72, ge=1, description="How old a reported playback event may be (offline clients send late)."
    )
    late_event_horizon_days: int = Field(
        default=ENGINE_DEFAULTS["late_event_horizon_days"],
        ge=1,
        le=366,
        description="How many days back a run looks for late events of settled days (and restates them).",
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
    run_lease_seconds: int = Field(
        default=ENGINE_DEFAULTS["run_lease_seconds"],
        ge=10,
        description="A settlement run that shows no sign of life this long loses the pipeline to the next.",
    )
    run_confirm_days: int = Field(
        default=7, ge=1, description="`settlement run` asks for --yes before settling more days than this."
    )
    trusted_proxies: str = Field(
        default="",
        validation_alias=AliasChoices("SETTLEMENT_TRUSTED_PROXIES", "FORWARDED_ALLOW_IPS"),
        description="Addresses or networks (comma-separated, e.g. '10.0.0.2' or '10.0.0.0/24') of the reverse proxies "
        "whose X-Forwarded-For and X-Forwarded-Proto are believed; empty (the default): none, the connection's own "
        "address is the client's. FORWARDED_ALLOW_IPS (uvicorn's name) is read too.",
    )
    api_workers: int | None = Field(
        default=None, ge=1, le=256, description="API processes `settlement serve` runs; unset: one per core."
    )
    api_pool_min_size: int = Field(default=1, ge=0, description="Database connections each API process keeps open.")
    api_pool_max_size: int = Field(default=10, ge=1, description="Database connections of each API process at most.")

    # API hardening: what a client may cost the server
    max_request_body_bytes: int = Field(
        default=128 * 1024,
        ge=1024,
        description="Larger request bodies are refused (413) before they are read; the largest valid body is under 80 KB "
        "(but a batch of playback events: playback_batch_max_body_bytes).",
    )
    playback_batch_max_body_bytes: int = Field(
        default=512 * 1024,
        ge=1024,
        description="The body limit of POST /playback/events: 500 events take ~100 KB as compact JSON, ~200 KB indented.",
    )
    password_hash_concurrency: int = Field(
        default=1, ge=1, description="Password hashes computed at once (each takes one core for ~0.1 s)."
    )
    password_hash_max_waiting: int = Field(
        default=32, ge=0, description="Logins and signups that may wait for a hashing slot; more are answered 503."
    )
    password_hash_time_cost: int = Field(default=3, ge=1, description="argon2id passes.")
    password_hash_memory_kib: int = Field(default=64 * 1024, ge=8 * 1024, description="argon2id memory per hash.")
    password_hash_parallelism: int = Field(
        default=1, ge=1, description="argon2id lanes (threads) per hash; 1 leaves the other cores to the requests."
    )
    login_account_limits: str = Field(
        default="5/minute;20/hour",
        description="Login attempts per account (email), as `limits` strings; a successful login clears them.",
    )
    login_address_limits: str = Field(
        default="60/minute;600/hour", description="Login attempts per client address, successful or not."
    )
    signup_address_limits: str = Field(default="20/hour", description="Signups per client address.")
    throttle_storage_uri: str = Field(
        default="database",
        description="Where the throttle counts live: `database`, the API's own database, shared by every API process; "
        "or a `limits` storage URI (async+memory://: each process its own, async+redis://host: a Redis).",
    )
    email_verification_ttl_hours: int = Field(
        default=24, ge=1, le=24 * 30, description="How long a signup's verification link works."
    )
    email_verification_max_attempts: int = Field(
        default=5, ge=1, le=100, description="Wrong passwords typed for a verification link before it ends."
    )
    email_verification_url: str = Field(
        default="http://127.0.0.1:8000/verify-email",
        description="The page the verification link opens (with ?token=): this server's /verify-email by default, "
        "which asks for the signup's password and confirms the address (POST /auth/verify-email).",
    )
    password_reset_url: str = Field(
        default="http://127.0.0.1:8000/reset-password",
        description="The page a password reset link opens (with ?token=): this server's /reset-password by default, "
        "which asks for the new password (POST /auth/password-reset/confirm).",
    )
    password_reset_ttl_minutes: int = Field(default=60, ge=5, le=24 * 60, description="How long a password reset link works.")
    password_reset_address_limits: str = Field(
        default="10/hour", description="Password reset requests per client address (each may send a mail)."
    )
    password_reset_account_limits: str = Field(
        default="3/hour", description="Password reset requests per email address: the mails its owner receives."
    )
    email_sender: str = Field(
        default="api.email.senders:LogSender",
        description="module:Class delivering the outbox's mail; the default logs each message (development).",
    )
    email_outbox_poll_seconds: float = Field(default=5.0, gt=0, description="How often the outbox is looked at.")
    email_outbox_max_attempts: int = Field(default=5, ge=1, description="Delivery tries of an outbox message.")
    email_outbox_claim_seconds: int = Field(
        default=300, ge=1, description="How long a delivery may take before the message is tried again."
    )
    kakao_max_response_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Larger answers from Kakao are refused (502) unread."
    )
    readiness_timeout_seconds: float = Field(default=2.0, gt=0, description="How long /readyz waits for the database.")

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


@lru_cache
def get_settings() -> Settings:
    return Settings()
