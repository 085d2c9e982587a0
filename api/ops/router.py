"""Operator endpoints: the settlement runs recorded in pipeline_runs.

Guarded by one bearer token from the settings (SETTLEMENT_OPS_TOKEN), not by user logins: operators
are not platform users. With no token configured the endpoints are off (403).
"""

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.database import Connection
from api.dependencies import AppSettings
from api.errors import error_responses, forbidden
from api.ops import service
from api.ops.schemas import RunPage, RunStatus
from api.schemas import Offset
from api.stats.schemas import Day

ops_bearer = HTTPBearer(
    auto_error=False, scheme_name="OperatorToken", description="The operator token (SETTLEMENT_OPS_TOKEN)."
)


async def require_ops_token(
    settings: AppSettings, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(ops_bearer)]
) -> None:
    expected = settings.ops_token.get_secret_value().encode() if settings.ops_token else b""
    if not expected:  # unset, or set to "" (docker-compose.yml passes it through empty when not given)
        raise forbidden("the ops endpoints are disabled: set SETTLEMENT_OPS_TOKEN on the API server to enable them")
    if credentials is None or not secrets.compare_digest(credentials.credentials.encode(), expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="send the operator token: 'Authorization: Bearer <SETTLEMENT_OPS_TOKEN>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


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
    return RunPage(items=items, total=total, limit=limit, offset=offset)
