"""The API's settings (`settlement serve`): the common ones (the database, the engine's rules it applies
when it records events; settlement.config.CommonSettings) and what only the API reads."""

from functools import lru_cache

from pydantic import AliasChoices, Field, SecretStr

from settlement.config import CommonSettings


class ApiSettings(CommonSettings):
    """The API's: its server, logins, mail, throttles and limits, over the common settings."""

    ops_token: SecretStr | None = Field(
        default=None, description="Bearer token for the /ops endpoints; when unset they answer 403."
    )
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
    playback_max_event_age_hours: int = Field(
        default=72, ge=1, description="How old a reported playback event may be (offline clients send late)."
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


@lru_cache
def get_api_settings() -> ApiSettings:
    return ApiSettings()
