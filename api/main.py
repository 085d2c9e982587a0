"""The FastAPI application: `create_app(settings)`; `settlement serve` runs it with uvicorn."""

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api.auth.passwords import Passwords
from api.auth.router import router as auth_router
from api.auth.throttle import Throttle
from api.config import ApiSettings, get_api_settings
from api.database import open_pool
from api.email.outbox import OutboxDispatcher
from api.email.senders import load_sender
from api.errors import document_transport_answers, register_error_handlers
from api.health.router import router as health_router
from api.logs import redact_access_log
from api.middleware import BodySizeLimit, SecurityHeaders
from api.ops.router import router as ops_router
from api.payments.router import ops_router as ops_payments_router
from api.payments.router import router as payments_router
from api.playback.router import batch_router as playback_batch_router
from api.playback.router import router as playback_router
from api.stats.router import router as stats_router
from api.studio.accounts import router as account_pages_router
from api.studio.router import router as studio_router
from api.videos.router import router as videos_router
from settlement.migrations import code_heads

log = logging.getLogger(__name__)


def create_app(settings: ApiSettings | None = None, database_url: str | None = None) -> FastAPI:
    """The app; its connection pool opens with the lifespan (see configure). The docs pages
    (/docs, /redoc) load their scripts from the fastapi-offline package, not from a CDN."""
    app = FastAPIOffline(
        title="Settlement API",
        summary="Records video playback and serves sellers their payouts and rankings.",
        version="0.1.0",
        lifespan=lifespan,
    )
    settings = settings or get_api_settings()
    configure(app, settings, database_url)
    register_error_handlers(app)
    # The last added runs first: headers go on every answer, the 413 included.
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_request_body_bytes,
        by_path={"/playback/events": settings.playback_batch_max_body_bytes},
    )
    app.add_middleware(SecurityHeaders)
    if settings.trusted_proxies.strip():  # outermost: everything after sees the client's address and scheme
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    routers = (
        health_router,
        auth_router,
        videos_router,
        playback_router,
        playback_batch_router,
        stats_router,
        payments_router,
        ops_router,
        ops_payments_router,
        studio_router,
        account_pages_router,
    )
    for router in routers:
        app.include_router(router)
    document_transport_answers(app)
    return app


def configure(app: FastAPI, settings: ApiSettings, database_url: str | None = None) -> None:
    """Sets what the app runs with; before it starts, so its pool opens against database_url if
    given, else the database the settings resolve to."""
    app.state.settings = settings
    app.state.database_url = database_url
    app.state.jwt_secret = jwt_secret(settings)
    app.state.schema_heads = code_heads()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = app.state.settings
    redact_access_log()
    app.state.passwords = Passwords(settings)
    async with open_pool(settings, app.state.database_url) as pool:
        app.state.pool = pool
        app.state.throttle = Throttle(settings.throttle_storage_uri, pool)
        app.state.outbox = OutboxDispatcher(pool, load_sender(settings), settings)
        delivering = asyncio.create_task(app.state.outbox.run(), name="email-outbox")
        try:
            yield
        finally:
            await app.state.outbox.stop(delivering)
            app.state.passwords.close()


def jwt_secret(settings: ApiSettings) -> str:
    if settings.jwt_secret:
        return settings.jwt_secret.get_secret_value()
    log.warning("SETTLEMENT_JWT_SECRET is not set: using a random secret, tokens end with this process")
    return secrets.token_urlsafe(32)
