"""Who is calling: the bearer token's user (while its session lasts), and role checks."""

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
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


INVALID_TOKEN = "invalid or expired access token: log in again"  # noqa: S105 (a message, not a secret)


async def jwt_secret(request: Request) -> str:
    secret: str = request.app.state.jwt_secret
    return secret


def presented_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None:
        raise unauthorized("log in first: send 'Authorization: Bearer <access_token>'")
    return credentials.credentials


async def current_user(
    conn: Connection,
    secret: Annotated[str, Depends(jwt_secret)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> DictRow:
    token = presented_token(credentials)
    # One answer for every failed check (forged, expired, signed out...): which one failed helps only
    # someone forging tokens.
    user = await service.user_of_token(conn, secret, token)
    if user is None:
        raise unauthorized(INVALID_TOKEN)
    return user


CurrentUser = Annotated[DictRow, Depends(current_user)]


@dataclass(frozen=True)
class Session:
    """What a bearer token names, its signature and expiry checked (service.session_of). Whether the
    session still lasts (not signed out, not ended by a password reset, the user not gone) is left to
    the endpoint's own statement, which joins service.LIVE_SESSION_USER and answers 401 when it yields
    nothing: one round trip to the database for the check and the work, where CurrentUser takes one of
    its own. Only for routes of class SessionCheckedRoute (below)."""

    user_id: int
    session_id: str


SESSION_TO_CHECK = "api.auth.session_to_check"  # the request's Session, for SessionCheckedRoute


async def token_session(
    request: Request,
    secret: Annotated[str, Depends(jwt_secret)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Session:
    token = presented_token(credentials)
    try:
        user_id, session_id = service.session_of(secret, token)
    except service.InvalidToken:
        raise unauthorized(INVALID_TOKEN) from None
    session = Session(user_id, session_id)
    request.scope[SESSION_TO_CHECK] = session
    return session


TokenSession = Annotated[Session, Depends(token_session)]


class SessionCheckedRoute(APIRoute):
    """A route whose endpoint checks its TokenSession in its own statement. A request refused before the
    endpoint runs, for its path or body (422), has its session checked first: a token whose session
    ended is answered 401 before anything else, as CurrentUser answers (it checks the session while
    FastAPI solves the dependencies, before the path and body are validated)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def session_checked(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError:
                session = request.scope.get(SESSION_TO_CHECK)
                if session is not None:  # else refused before the token was read (a body not JSON), as before
                    async with request.app.state.pool.connection() as conn:
                        live = await service.session_is_live(conn, session.user_id, session.session_id)
                    if not live:
                        raise unauthorized(INVALID_TOKEN) from None
                raise

        return session_checked


BearerToken = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def current_seller(user: CurrentUser) -> DictRow:
    if user["role"] != Role.SELLER:
        raise forbidden("sellers only: become a seller with POST /me/seller first")
    return user


CurrentSeller = Annotated[DictRow, Depends(current_seller)]


async def get_passwords(request: Request) -> Passwords:
    passwords: Passwords = request.app.state.passwords
    return passwords


async def get_throttle(request: Request) -> Throttle:
    throttle: Throttle = request.app.state.throttle
    return throttle


PasswordHashing = Annotated[Passwords, Depends(get_passwords)]
Throttling = Annotated[Throttle, Depends(get_throttle)]


def require_own_seller_data(user: DictRow, seller_id: int) -> None:
    """A seller reads only their own results (403 otherwise)."""
    if user["id"] != seller_id:
        raise forbidden("sellers can only read their own results")
    if user["role"] != Role.SELLER:
        raise forbidden("sellers only: become a seller with POST /me/seller first")
