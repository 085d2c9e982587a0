"""Probes for orchestrators: /healthz (the process answers) and /readyz (it can serve: the database
answers and its schema is the one this code needs)."""

import asyncio
import logging

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from psycopg import AsyncConnection
from psycopg.rows import DictRow
from pydantic import BaseModel

from api.database import one_row

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


class ProbeOut(BaseModel):
    status: str


@router.get("/healthz", response_model=ProbeOut)
async def healthz() -> ProbeOut:
    """The process is up and answering (it does not look at the database)."""
    return ProbeOut(status="ok")


@router.get(
    "/readyz",
    response_model=ProbeOut,
    responses={503: {"model": ProbeOut, "description": "The database does not answer, or its schema is not current"}},
)
async def readyz(request: Request) -> ProbeOut | JSONResponse:
    """The database answers within the readiness timeout and is at the schema revision of this code."""
    problem = await readiness_problem(request)
    if problem:
        log.warning("not ready: %s", problem)
        return JSONResponse({"status": problem}, status.HTTP_503_SERVICE_UNAVAILABLE)
    return ProbeOut(status="ready")


async def readiness_problem(request: Request) -> str | None:
    state = request.app.state
    try:
        async with asyncio.timeout(state.settings.readiness_timeout_seconds):
            async with state.pool.connection() as conn:
                revisions = await schema_revisions(conn)
    except Exception as exc:  # an unreachable database raises anything from a timeout to OperationalError
        log.debug("readiness check failed", exc_info=exc)
        return "database unreachable"
    if revisions != state.schema_heads:
        return "database schema not current"
    return None


async def schema_revisions(conn: AsyncConnection[DictRow]) -> set[str]:
    cursor = await conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL AS migrated")
    if not (await one_row(cursor))["migrated"]:
        return set()
    cursor = await conn.execute("SELECT version_num FROM alembic_version")
    return {row["version_num"] for row in await cursor.fetchall()}
