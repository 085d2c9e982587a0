"""The FastAPI application: `create_app(settings)`; `settlement serve` runs it with uvicorn."""

import logging
import secrets
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.auth.router import router as auth_router
from api.database import open_pool
from api.errors import register_error_handlers
from api.ops.router import router as ops_router
from api.playback.router import router as playback_router
from api.stats.router import router as stats_router
from api.videos.router import router as videos_router
from settlement.config import Settings, get_settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, database_url: str | None = None) -> FastAPI:
    """The app; its connection pool opens with the lifespan (see configure)."""
    app = FastAPI(
        title="Settlement API",
        summary="Records video playback and serves sellers their payouts and rankings.",
        version="0.1.0",
        lifespan=lifespan,
    )
    configure(app, settings or get_settings(), database_url)
    register_error_handlers(app)
    for router in (auth_router, videos_router, playback_router, stats_router, ops_router):
        app.include_router(router)
    return app


def configure(app: FastAPI, settings: Settings, database_url: str | None = None) -> None:
    """Sets what the app runs with; before it starts, so its pool opens against database_url if
    given, else the database the settings resolve to."""
    app.state.settings = settings
    app.state.database_url = database_url
    app.state.jwt_secret = jwt_secret(settings)


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with open_pool(app.state.settings, app.state.database_url) as pool:
        app.state.pool = pool
        yield


def jwt_secret(settings: Settings) -> str:
    if settings.jwt_secret:
        return settings.jwt_secret.get_secret_value()
    log.warning("SETTLEMENT_JWT_SECRET is not set: using a random secret, tokens end with this process")
    return secrets.token_urlsafe(32)
