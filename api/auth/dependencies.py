"""Who is calling: the bearer token's user (while its session lasts), and role checks."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg.rows import DictRow

from api.auth import service
from api.auth.passwords import Passwords
from api.auth.schemas import Role
from api.auth.throttle import Throttle
from api.database import Connection
from api.errors import forbidden, unauthorized

bearer = HTTPBearer(
    auto_error=False, scheme_name="UserToken", description="The access_token from /auth/login or the Kakao callback."
)


INVALID_TOKEN = "invalid or expired access token: log in again"


async def jwt_secret(request: Request) -> str:
    return request.app.state.jwt_secret


async def current_user(
    conn: Connection,
    secret: Annotated[str, Depends(jwt_secret)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> DictRow:
    if credentials is None:
        raise unauthorized("log in first: send 'Authorization: Bearer <access_token>'")
    # One answer for every failed check (forged, expired, signed out...): which one failed helps only
    # someone forging tokens.
    user = await service.user_of_token(conn, secret, credentials.credentials)
    if user is None:
        raise unauthorized(INVALID_TOKEN)
    return user


CurrentUser = Annotated[DictRow, Depends(current_user)]
BearerToken = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def current_seller(user: CurrentUser) -> DictRow:
    if user["role"] != Role.SELLER:
        raise forbidden("sellers only: become a seller with POST /me/seller first")
    return user


CurrentSeller = Annotated[DictRow, Depends(current_seller)]


async def get_passwords(request: Request) -> Passwords:
    return request.app.state.passwords


async def get_throttle(request: Request) -> Throttle:
    return request.app.state.throttle


PasswordHashing = Annotated[Passwords, Depends(get_passwords)]
Throttling = Annotated[Throttle, Depends(get_throttle)]


def require_own_seller_data(user: DictRow, seller_id: int) -> None:
    """A seller reads only their own results (403 otherwise)."""
    if user["id"] != seller_id:
        raise forbidden("sellers can only read their own results")
    if user["role"] != Role.SELLER:
        raise forbidden("sellers only: become a seller with POST /me/seller first")
