"""The operator endpoints' guard: one bearer token from the settings (SETTLEMENT_OPS_TOKEN), not a user
login; with no token configured the endpoints are off (403). Every ops router depends on it."""

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.dependencies import AppSettings
from api.errors import forbidden

ops_bearer = HTTPBearer(auto_error=False, scheme_name="OperatorToken", description="The operator token (SETTLEMENT_OPS_TOKEN).")


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
