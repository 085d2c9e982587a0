"""Sign up (and verify the email), log in (password or Kakao), who am I, become a seller.

Login and signup do not hold a database connection while a password is hashed, nor the Kakao
callback while Kakao answers: each takes one from the pool per transaction.
"""

import logging
from typing import Annotated

from fastapi import APIRouter, Cookie, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from psycopg.rows import DictRow

from api.auth import service
from api.auth.dependencies import BearerToken, CurrentUser, PasswordHashing, Throttling, jwt_secret, presented_token
from api.auth.passwords import HashingBusy
from api.auth.schemas import (
    LoginIn,
    MessageOut,
    PasswordResetConfirmIn,
    PasswordResetIn,
    SignupIn,
    TokenOut,
    UserOut,
    VerifyEmailIn,
)
from api.auth.throttle import client_address
from api.config import ApiSettings
from api.database import Connection, ConnectionPool, Pool
from api.dependencies import AppSettings
from api.errors import Responses, conflict, error_responses, forbidden, not_found
from api.studio.session import KAKAO_LANDING_COOKIE, KAKAO_LANDS_IN_STUDIO, land_in_studio

log = logging.getLogger(__name__)
router = APIRouter(tags=["auth"])
Secret = Annotated[str, Depends(jwt_secret)]
KAKAO_STATE_COOKIE = "kakao_login_nonce"
# OAuth 2.0 error codes (RFC 6749 4.1.2.1, OpenID Connect): repeated to the client; any other text is not.
OAUTH_ERRORS = frozenset({
    "access_denied", "invalid_request", "unauthorized_client", "unsupported_response_type", "invalid_scope",
    "server_error", "temporarily_unavailable", "consent_required", "login_required", "interaction_required",
})  # fmt: skip


RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}}
THROTTLED: Responses = {
    429: {"description": "Too many attempts: wait Retry-After seconds", "headers": RETRY_AFTER},
    503: {"description": "Too many passwords waiting to be checked: wait Retry-After seconds", "headers": RETRY_AFTER},
}


def no_store(response: Response) -> None:
    """Keeps a token out of browser and proxy caches."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"


async def token_for(pool: ConnectionPool, settings: ApiSettings, secret: str, user: DictRow, response: Response) -> TokenOut:
    """A new session's access token for the user."""
    async with pool.connection() as conn:
        token, expires_in = await service.start_session(conn, settings, secret, user["id"])
    no_store(response)
    return TokenOut(access_token=token, expires_in=expires_in)


@router.post(
    "/auth/signup",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses={**error_responses(409), **THROTTLED},
)
async def signup(
    body: SignupIn, request: Request, pool: Pool, settings: AppSettings, passwords: PasswordHashing, throttle: Throttling
) -> DictRow:
    """Creates an unverified account and sends a one-time verification link to the email; the
    account logs in once the link is followed with this password (POST /auth/verify-email). Signing
    up again with an email not verified yet replaces the earlier signup and its link (the newest
    signup is the email's only pending one); a verified email is taken (409)."""
    await throttle.admit(settings.signup_address_limits, "signup-address", client_address(request))
    email = body.email.lower()
    async with pool.connection() as conn:
        if await service.email_is_taken(conn, email):
            raise conflict(
                "this email is already registered: log in instead, or choose a new password (POST /auth/password-reset)"
            )
    try:
        password_hash = await passwords.hash(body.password)
    except HashingBusy:
        raise service.busy() from None
    async with pool.connection() as conn:  # one transaction: the account, its link, the mail
        user = await service.replace_pending_signup(conn, email, body.username, password_hash)
        await service.send_verification_link(conn, settings, user)
    request.app.state.outbox.wake()
    return user


@router.post(
    "/auth/verify-email",
    response_model=UserOut,
    responses={**error_responses(403, 404, 409), 503: THROTTLED[503]},
)
async def verify_email(body: VerifyEmailIn, pool: Pool, settings: AppSettings, passwords: PasswordHashing) -> DictRow:
    """Follows a verification link, with the password of its signup: the account is verified (and can
    log in); other unverified signups of the email are forgotten. A link works once; a wrong password is
    refused (403), and after SETTLEMENT_EMAIL_VERIFICATION_MAX_ATTEMPTS of them the link ends."""
    return await service.confirm_signup(pool, settings, passwords, body.token, body.password)


RESET_ASKED = (
    "if a verified account has this email, a link to choose a new password is on its way there: it works once, "
    "and only the newest one works"
)


@router.post(
    "/auth/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MessageOut,
    responses={429: THROTTLED[429]},
)
async def ask_password_reset(
    body: PasswordResetIn, request: Request, pool: Pool, settings: AppSettings, throttle: Throttling
) -> MessageOut:
    """Mails a one-time link to choose a new password to the email, if a verified account has it: how the
    owner of an address gets its account back, whoever set its password. The answer is the same whether
    or not one was sent. Limited per client address and per email (429): each request may send a mail."""
    await service.request_password_reset(request, pool, settings, throttle, body.email)
    return MessageOut(detail=RESET_ASKED)


@router.post(
    "/auth/password-reset/confirm",
    response_model=UserOut,
    responses={**error_responses(404), 503: THROTTLED[503]},
)
async def confirm_password_reset(
    body: PasswordResetConfirmIn, pool: Pool, settings: AppSettings, passwords: PasswordHashing, throttle: Throttling
) -> DictRow:
    """Follows a password reset link: the account's password is the new one, and every session of the
    account ends (tokens are refused from now on, whoever held them). A link works once."""
    return await service.reset_password(pool, settings, passwords, throttle, body.token, body.password)


@router.post("/auth/login", response_model=TokenOut, responses={**error_responses(401, 403), **THROTTLED})
async def login(
    body: LoginIn,
    request: Request,
    response: Response,
    pool: Pool,
    settings: AppSettings,
    secret: Secret,
    passwords: PasswordHashing,
    throttle: Throttling,
) -> TokenOut:
    """Checks the password; attempts are limited per account and per client address (429 with
    Retry-After). An account logs in once its email is verified (403 before)."""
    user = await service.authenticate(request, pool, settings, passwords, throttle, body.email, body.password)
    return await token_for(pool, settings, secret, user, response)


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
    response: Response,
    pool: Pool,
    settings: AppSettings,
    secret: Secret,
    state: Annotated[str, Query(max_length=2048)] = "",
    code: Annotated[str | None, Query(max_length=2048)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
    error_description: Annotated[str | None, Query(max_length=2048)] = None,
    nonce: Annotated[str | None, Cookie(alias=KAKAO_STATE_COOKIE)] = None,
    lands_in: Annotated[str | None, Cookie(alias=KAKAO_LANDING_COOKIE)] = None,
) -> TokenOut | HTMLResponse:
    """Where Kakao sends the browser back. The state works once, in the browser that started the login."""
    if not settings.kakao_client_id:
        raise not_found("Kakao login is not configured on this server (SETTLEMENT_KAKAO_CLIENT_ID)")
    login_state = service.read_kakao_state(secret, state, nonce)
    if login_state is None:
        raise forbidden("invalid or expired login state: start again at /auth/kakao/login")
    async with pool.connection() as conn:  # committed at once: a failure below does not make it reusable
        if not await service.use_kakao_state(conn, login_state):
            raise forbidden("this login state was used already: start again at /auth/kakao/login")
    response.delete_cookie(KAKAO_STATE_COOKIE)
    if error:
        refused = f"Kakao login refused: {error}" if error in OAUTH_ERRORS else "Kakao login refused"
        raise HTTPException(status.HTTP_400_BAD_REQUEST, refused)
    if not code:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the callback has no authorization code")
    try:
        profile = await service.kakao_profile_for_code(settings, code)
    except service.KakaoError as exc:
        log.warning("Kakao login failed at %s", exc)
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"Kakao login failed at the {exc.step}: try again later") from None
    async with pool.connection() as conn:
        user = await service.find_or_create_kakao_user(conn, profile)
    if user is None:
        raise conflict("the Kakao account's email is already registered: log in with your password")
    if lands_in == KAKAO_LANDS_IN_STUDIO:  # started from /studio/kakao: sign in to the studio page instead
        async with pool.connection() as conn:
            return await land_in_studio(conn, settings, secret, user)
    return await token_for(pool, settings, secret, user, response)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(401))
async def logout(user: CurrentUser, credentials: BearerToken, conn: Connection, secret: Secret) -> Response:
    """Ends the session of the token sent: from now on it is refused everywhere (the studio too), before
    it expires. The user's other sessions (other devices) go on."""
    await service.end_session(conn, secret, presented_token(credentials))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=UserOut, responses=error_responses(401))
async def me(user: CurrentUser) -> DictRow:
    return user


SELLER = {"seller_id": "$response.body#/id"}
SELLER_LINKS = {
    "GetPayouts": {"operationId": "seller_payouts_sellers__seller_id__payouts_get", "parameters": SELLER},
    "GetRankings": {"operationId": "seller_rankings_sellers__seller_id__rankings_get", "parameters": SELLER},
}


@router.post("/me/seller", response_model=UserOut, responses={200: {"links": SELLER_LINKS}, **error_responses(401)})
async def become_seller(user: CurrentUser, conn: Connection) -> DictRow:
    """Makes the caller a SELLER (allowed to upload videos); calling it again changes nothing."""
    return await service.make_seller(conn, user["id"])
