"""Operator endpoints: the settlement runs recorded in pipeline_runs.

Guarded by one bearer token from the settings (SETTLEMENT_OPS_TOKEN), not by user logins: operators
are not platform users. With no token configured the endpoints are off (403).
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.database import Connection
from api.errors import error_responses
from api.ops import service
from api.ops.dependencies import require_ops_token
from api.ops.schemas import RunPage, RunStatus
from api.schemas import Day, Offset

router = APIRouter(prefix="/ops", tags=["ops"], dependencies=[Depends(require_ops_token)])


@router.get("/runs", response_model=RunPage, responses=error_responses(401, 403))
async def list_runs(
    conn: Connection,
    date: Annotated[Day | None, Query(description="Only runs that settled this platform day.")] = None,
    status: Annotated[RunStatus | None, Query(description="Only runs with this status.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> RunPage:
    """Settlement runs, newest first: the day, when it started and finished, its status, rows and error."""
    items, total = await service.list_runs(conn, date, status, limit, offset)
    return RunPage.model_validate({"items": items, "total": total, "limit": limit, "offset": offset})
