"""Sign up, log in (password or Kakao), who am I, become a seller."""

from typing import Annotated

from fastapi import APIRouter, Cookie, Depends, HTTPException, Query, status
from fastapi.responses import RedirectResponse
from psycopg.rows import DictRow

from api.auth import service
from api.auth.dependencies import CurrentUser, jwt_secret, unauthorized
from api.auth.schemas import LoginIn, SignupIn, TokenOut, UserOut
from api.database import Connection
from api.dependencies import AppSettings
from api.errors import conflict, error_responses, forbidden, not_found

router = APIRouter(tags=["auth"])
Secret = Annotated[str, Depends(jwt_secret)]
KAKAO_STATE_COOKIE = "kakao_login_nonce"


def token_for(settings, secret: str, user: DictRow) -> TokenOut:
    token, expires_in = service.issue_access_token(settings, secret, user["id"])
    return TokenOut(access_token=token, expires_in=expires_in)


@router.post(
    "/auth/signup", status_code=status.HTTP_201_CREATED, response_model=UserOut, responses=error_responses(409)
)
async def signup(body: SignupIn, conn: Connection) -> DictRow:
    password_hash = await service.hash_password(body.password)
    user = await service.create_user(conn, body.email.lower(), body.username, password_hash)
    if user is None:
        raise conflict("this email is already registered: log in instead")
    return user


@router.post("/auth/login", response_model=TokenOut, responses=error_responses(401))
async def login(body: LoginIn, conn: Connection, settings: AppSettings, secret: Secret) -> TokenOut:
    user = await service.user_by_email(conn, body.email.lower())
    password_hash = user["password_hash"] if user else None
    if not await service.password_matches(password_hash, body.password):
        raise unauthorized("wrong email or password")
    return token_for(settings, secret, user)


@router.get(
    "/auth/kakao/login",
    status_code=status.HTTP_307_TEMPORARY_REDIRECT,
    response_class=RedirectResponse,
    responses={307: {"description": "Redirect to Kakao's authorize page"}, **error_responses(404)},
)
async def kakao_login(settings: AppSettings, secret: Secret) -> RedirectResponse:
    """Starts the Kakao login: the browser goes to Kakao, which comes back to /auth/kakao/callback."""
    if not settings.kakao_client_id:
        raise not_found("Kakao login is not configured on this server (SETTLEMENT_KAKAO_CLIENT_ID)")
    state, nonce = service.new_kakao_state(settings, secret)
    response = RedirectResponse(service.kakao_authorize_url(settings, state), status.HTTP_307_TEMPORARY_REDIRECT)
    response.set_cookie(
        KAKAO_STATE_COOKIE,
        nonce,
        max_age=settings.kakao_state_ttl_seconds,
        httponly=True,
        samesite="lax",
        secure=settings.kakao_redirect_uri.startswith("https://"),
    )
    return response


@router.get("/auth/kakao/callback", response_model=TokenOut, responses=error_responses(400, 403, 404, 409, 502))
async def kakao_callback(
    conn: Connection,
    settings: AppSettings,
    secret: Secret,
    state: Annotated[str, Query(max_length=2048)] = "",
    code: Annotated[str | None, Query(max_length=2048)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
    error_description: Annotated[str | None, Query(max_length=2048)] = None,
    nonce: Annotated[str | None, Cookie(alias=KAKAO_STATE_COOKIE)] = None,
) -> TokenOut:
    if not settings.kakao_client_id:
        raise not_found("Kakao login is not configured on this server (SETTLEMENT_KAKAO_CLIENT_ID)")
    if not service.kakao_state_is_valid(secret, state, nonce):
        raise forbidden("invalid or expired login state: start again at /auth/kakao/login")
    if error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"Kakao login refused: {error} {error_description or ''}".strip())
    if not code:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the callback has no authorization code")
    try:
        profile = await service.kakao_profile_for_code(settings, code)
    except service.KakaoError as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"Kakao login failed at {exc}") from None
    user = await service.find_or_create_kakao_user(conn, profile)
    if user is None:
        raise conflict("the Kakao account's email is already registered: log in with your password")
    return token_for(settings, secret, user)


@router.get("/me", response_model=UserOut, responses=error_responses(401))
async def me(user: CurrentUser) -> DictRow:
    return user


@router.post("/me/seller", response_model=UserOut, responses=error_responses(401))
async def become_seller(user: CurrentUser, conn: Connection) -> DictRow:
    """Makes the caller a SELLER (allowed to upload videos); calling it again changes nothing."""
    return await service.make_seller(conn, user["id"])
