"""Users, login tokens, email verification and the Kakao OAuth 2.0 authorization-code flow."""

import datetime as dt
import functools
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
import jwt
from fastapi import HTTPException, Request, status
from psycopg import AsyncConnection, errors
from psycopg.rows import DictRow
from pydantic import BaseModel

from api.auth.passwords import HashingBusy, Passwords
from api.auth.schemas import USERNAME_MAX_LENGTH, KakaoTokenIn, KakaoUserInfoIn
from api.auth.throttle import Throttle, client_address
from api.config import ApiSettings
from api.database import ConnectionPool, one_row
from api.email.outbox import enqueue
from api.email.senders import OutgoingEmail
from api.errors import conflict, forbidden, not_found, unauthorized
from api.schemas import BIGINT_MAX
from settlement import clock

log = logging.getLogger(__name__)
Answer = TypeVar("Answer", bound=BaseModel)

JWT_ALGORITHM = "HS256"
ACCESS_PURPOSE = "access"
KAKAO_STATE_PURPOSE = "kakao-state"

USER_ID = re.compile("[0-9]{1,19}")
SESSION_ID = re.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
USER_COLUMNS = "id, email, username, role, password_hash, kakao_id IS NOT NULL AS kakao_linked, email_verified, created_at"


class InvalidToken(Exception):
    pass


class KakaoError(Exception):
    """The provider refused, failed or answered something unexpected; the message is for the log."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step


class EmailTaken(Exception):
    """A verified account has this email already."""


# Tokens ----------------------------------------------------------------------------------------


def issue_token(secret: str, purpose: str, subject: str, ttl: dt.timedelta) -> str:
    now = clock.now()
    claims = {"sub": subject, "purpose": purpose, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


@functools.lru_cache(maxsize=4096)
def _signed_claims(secret: str, token: str) -> dict[str, Any]:
    """The claims of a token signed with secret (its signature checked, nothing else). Remembered for the
    tokens seen last: a client sends the same token with each request, and checking it again costs the
    API more than the rest of a playback request's Python (pyjwt decodes base64 a character at a time).
    Only what the token says is remembered: its expiry and purpose are judged at each use (read_claims),
    and whether its session lasts is asked of the database at each request."""
    try:
        # expiry is judged on the platform's clock (settlement.clock), not pyjwt's
        return jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            options={"require": ["sub", "exp"], "verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(str(exc)) from None


def read_claims(secret: str, purpose: str, token: str) -> dict[str, Any]:
    """The token's claims, if it is ours, unexpired and made for this purpose."""
    claims = dict(_signed_claims(secret, token))
    if not isinstance(claims["exp"], int | float) or claims["exp"] <= clock.now().timestamp():
        raise InvalidToken("Signature has expired")
    if claims.get("purpose") != purpose or not isinstance(claims["sub"], str):
        raise InvalidToken("token made for another purpose")
    return claims


def access_token(settings: ApiSettings, secret: str, user_id: int, session_id: str) -> tuple[str, int]:
    """(token, seconds it lasts) for a session already recorded in auth_sessions (start_session records it)."""
    ttl = dt.timedelta(minutes=settings.jwt_ttl_minutes)
    now = clock.now()
    claims = {"sub": str(user_id), "sid": session_id, "purpose": ACCESS_PURPOSE, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM), int(ttl.total_seconds())


def session_of(secret: str, token: str) -> tuple[int, str]:
    """(user id, session id) an access token names, if it is ours, unexpired and made for access."""
    claims = read_claims(secret, ACCESS_PURPOSE, token)
    subject, session_id = claims["sub"], claims.get("sid")
    # ASCII digits only: int() also reads other scripts' digits ("١٢") and surrounding spaces.
    if not USER_ID.fullmatch(subject) or not 1 <= int(subject) <= BIGINT_MAX:
        raise InvalidToken("token subject is not a user id")
    if not isinstance(session_id, str) or not SESSION_ID.fullmatch(session_id):
        raise InvalidToken("token names no session")
    return int(subject), session_id


# Sessions (migration 0051): a token is good while its row is there -----------------------------


async def start_session(conn: AsyncConnection[DictRow], settings: ApiSettings, secret: str, user_id: int) -> tuple[str, int]:
    """A new session for the user, recorded until its token expires: (access token, seconds it lasts).
    Clears a batch of expired sessions (anyone's) on the way."""
    await conn.execute(
        """
        DELETE FROM auth_sessions WHERE id IN (
            SELECT id FROM auth_sessions WHERE expires_at <= settlement_now() LIMIT 100 FOR UPDATE SKIP LOCKED
        )
        """
    )
    cursor = await conn.execute(
        """
        INSERT INTO auth_sessions (user_id, expires_at) VALUES (%s, settlement_now() + make_interval(mins => %s))
        RETURNING id::text AS id
        """,
        (user_id, settings.jwt_ttl_minutes),
    )
    session_id = (await one_row(cursor))["id"]
    return access_token(settings, secret, user_id, session_id)


# The live-session check of user_of_token, for a statement of its own (a FROM item yielding the user's id,
# or nothing): the endpoints that check a token's session in the statement that does their work (one round
# trip for both, api.auth.dependencies.TokenSession) join it. Parameters: %(user_id)s, %(session_id)s.
# A token's session lasts while its row is there, unexpired: the one condition every check joins.
SESSION_LASTS = """EXISTS (
        SELECT 1 FROM auth_sessions s WHERE s.id = %(session_id)s AND s.user_id = users.id AND s.expires_at > settlement_now()
    )"""
LIVE_SESSION_USER = f"""
    SELECT users.id FROM users
    WHERE users.id = %(user_id)s AND {SESSION_LASTS}
"""


async def session_is_live(conn: AsyncConnection[DictRow], user_id: int, session_id: str) -> bool:
    """Whether the session a token names (session_of) still lasts: user_of_token's check alone."""
    cursor = await conn.execute(LIVE_SESSION_USER, {"user_id": user_id, "session_id": session_id})
    return await cursor.fetchone() is not None


async def user_of_token(conn: AsyncConnection[DictRow], secret: str, token: str) -> DictRow | None:
    """The user an access token signs in, while its session lasts; None otherwise (not ours, expired,
    signed out, the sessions ended by a password reset, the user gone)."""
    try:
        user_id, session_id = session_of(secret, token)
    except InvalidToken:
        return None
    cursor = await conn.execute(
        f"SELECT {USER_COLUMNS} FROM users WHERE users.id = %(user_id)s AND {SESSION_LASTS}",
        {"user_id": user_id, "session_id": session_id},
    )
    return await cursor.fetchone()


async def end_session(conn: AsyncConnection[DictRow], secret: str, token: str) -> bool:
    """Ends the session of this token (signing out); False when it names no live session of ours."""
    try:
        user_id, session_id = session_of(secret, token)
    except InvalidToken:
        return False
    cursor = await conn.execute("DELETE FROM auth_sessions WHERE id = %s AND user_id = %s RETURNING 1", (session_id, user_id))
    return await cursor.fetchone() is not None


async def end_all_sessions(conn: AsyncConnection[DictRow], user_id: int) -> None:
    await conn.execute("DELETE FROM auth_sessions WHERE user_id = %s", (user_id,))


# Users -----------------------------------------------------------------------------------------


# Two-key advisory locks (a key space apart from settlement_lock_key's one-key locks): the first key says
# what is locked, the second is hashtext(email).
SIGNUP_LOCK = 22


async def replace_pending_signup(conn: AsyncConnection[DictRow], email: str, username: str, password_hash: str) -> DictRow:
    """A new unverified account for email, which replaces the email's earlier pending signup (and its link):
    an address has one pending signup at a time, the newest (uq_users_email_pending, migration 0050)."""
    await conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (SIGNUP_LOCK, email))
    await forget_unverified_signups(conn, email)
    cursor = await conn.execute(
        f"""
        INSERT INTO users (email, username, password_hash, email_verified) VALUES (%s, %s, %s, false)
        RETURNING {USER_COLUMNS}
        """,
        (email, username, password_hash),
    )
    return await one_row(cursor)


async def email_is_taken(conn: AsyncConnection[DictRow], email: str) -> bool:
    cursor = await conn.execute("SELECT 1 FROM users WHERE email = %s AND email_verified", (email,))
    return await cursor.fetchone() is not None


async def user_for_login(conn: AsyncConnection[DictRow], email: str) -> DictRow | None:
    """The account a password login with this email is checked against: the verified one, else
    the newest unverified signup."""
    cursor = await conn.execute(
        f"""
        SELECT {USER_COLUMNS} FROM users WHERE email = %s
        ORDER BY email_verified DESC, id DESC LIMIT 1
        """,
        (email,),
    )
    return await cursor.fetchone()


async def replace_password_hash(conn: AsyncConnection[DictRow], user_id: int, old: str, new: str) -> None:
    await conn.execute("UPDATE users SET password_hash = %s WHERE id = %s AND password_hash = %s", (new, user_id, old))


async def user_by_id(conn: AsyncConnection[DictRow], user_id: int) -> DictRow | None:
    cursor = await conn.execute(f"SELECT {USER_COLUMNS} FROM users WHERE id = %s", (user_id,))
    return await cursor.fetchone()


async def make_seller(conn: AsyncConnection[DictRow], user_id: int) -> DictRow:
    cursor = await conn.execute(f"UPDATE users SET role = 'SELLER' WHERE id = %s RETURNING {USER_COLUMNS}", (user_id,))
    return await one_row(cursor)


async def forget_unverified_signups(conn: AsyncConnection[DictRow], email: str) -> None:
    """Signups of this email that never proved it: they can no longer become its account."""
    await conn.execute("DELETE FROM users WHERE email = %s AND NOT email_verified", (email,))


# Email verification ----------------------------------------------------------------------------


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


async def send_verification_link(conn: AsyncConnection[DictRow], settings: ApiSettings, user: DictRow) -> None:
    """A one-time link for this signup, queued in the outbox in the signup's transaction. Also
    clears signups whose links expired unused."""
    await conn.execute(
        """
        DELETE FROM users WHERE NOT email_verified AND password_hash IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM email_verifications v WHERE v.user_id = users.id AND v.expires_at > settlement_now())
          AND created_at < settlement_now() - make_interval(hours => %s)
        """,
        (settings.email_verification_ttl_hours,),
    )
    token = secrets.token_urlsafe(32)
    await conn.execute(
        """
        INSERT INTO email_verifications (user_id, token_hash, expires_at)
        VALUES (%s, %s, settlement_now() + make_interval(hours => %s))
        """,
        (user["id"], token_digest(token), settings.email_verification_ttl_hours),
    )
    link = f"{settings.email_verification_url}?{urlencode({'token': token})}"
    await enqueue(conn, OutgoingEmail(user["email"], "Confirm your email address", verification_mail(settings, link)))


def verification_mail(settings: ApiSettings, link: str) -> str:
    """The mail's text: our words and our link only. Nothing the signup sent (a username can say anything,
    "Go to http://evil.example/verify," included) goes into a message to an address that may not be theirs."""
    return (
        "Someone signed up with this email address. If it was you, open this link and enter the password "
        f"you chose when signing up:\n{link}\n\n"
        f"The link works once, for {settings.email_verification_ttl_hours} hours. Only the newest link sent to "
        "this address works: signing up again replaces it.\n\n"
        "If you did not sign up, ignore this message: without this link and that password, nothing happens."
    )


async def pending_signup(conn: AsyncConnection[DictRow], token: str) -> DictRow | None:
    """{verification_id, password_hash} of the signup a live link belongs to, or None (unknown, used,
    expired, replaced by a newer signup)."""
    cursor = await conn.execute(
        """
        SELECT v.id AS verification_id, u.password_hash
        FROM email_verifications v JOIN users u ON u.id = v.user_id
        WHERE v.token_hash = %s AND v.expires_at > settlement_now() AND NOT u.email_verified
        """,
        (token_digest(token),),
    )
    return await cursor.fetchone()


async def count_wrong_password(conn: AsyncConnection[DictRow], verification_id: int, max_attempts: int) -> None:
    """A wrong password typed for this link; the link ends at max_attempts of them."""
    cursor = await conn.execute(
        "UPDATE email_verifications SET failed_attempts = failed_attempts + 1 WHERE id = %s RETURNING failed_attempts",
        (verification_id,),
    )
    counted = await cursor.fetchone()
    if counted is not None and counted["failed_attempts"] >= max_attempts:
        await conn.execute("DELETE FROM email_verifications WHERE id = %s", (verification_id,))


async def verify_email(conn: AsyncConnection[DictRow], token: str) -> DictRow | None:
    """The account whose link this is, now verified; None for an unknown, used or expired link.
    Raises EmailTaken when another account has verified the email meanwhile."""
    cursor = await conn.execute(
        "DELETE FROM email_verifications WHERE token_hash = %s AND expires_at > settlement_now() RETURNING user_id",
        (token_digest(token),),
    )
    pending = await cursor.fetchone()
    if pending is None:
        return None
    try:
        async with conn.transaction():
            cursor = await conn.execute(
                f"""
                UPDATE users SET email_verified = true WHERE id = %s AND NOT email_verified
                RETURNING {USER_COLUMNS}
                """,
                (pending["user_id"],),
            )
            user = await cursor.fetchone()
    except errors.UniqueViolation:
        raise EmailTaken from None
    if user is not None:
        await forget_unverified_signups(conn, user["email"])
    return user


# Password resets (migration 0052): the owner of an address takes its account back ---------------


async def send_password_reset_link(conn: AsyncConnection[DictRow], settings: ApiSettings, email: str) -> bool:
    """A one-time reset link mailed to email, when a verified account has it (replacing the account's
    earlier link); False, and nothing sent, otherwise."""
    cursor = await conn.execute("SELECT id FROM users WHERE email = %s AND email_verified", (email,))
    account = await cursor.fetchone()
    if account is None:
        return False
    await conn.execute("DELETE FROM password_resets WHERE user_id = %s OR expires_at <= settlement_now()", (account["id"],))
    token = secrets.token_urlsafe(32)
    await conn.execute(
        """
        INSERT INTO password_resets (user_id, token_hash, expires_at)
        VALUES (%s, %s, settlement_now() + make_interval(mins => %s))
        """,
        (account["id"], token_digest(token), settings.password_reset_ttl_minutes),
    )
    link = f"{settings.password_reset_url}?{urlencode({'token': token})}"
    await enqueue(conn, OutgoingEmail(email, "Choose a new password", password_reset_mail(settings, link)))
    return True


def password_reset_mail(settings: ApiSettings, link: str) -> str:
    """Our words and our link only, as verification_mail: nothing of the account (its username is whatever
    its maker chose)."""
    return (
        "Someone asked to choose a new password for the account of this email address. If it was you, open "
        f"this link and choose one:\n{link}\n\n"
        f"The link works once, for {settings.password_reset_ttl_minutes} minutes; only the newest link sent "
        "works. Choosing a new password signs the account out everywhere.\n\n"
        "If you did not ask, ignore this message: the password stays as it is."
    )


async def reset_link_is_live(conn: AsyncConnection[DictRow], token: str) -> bool:
    cursor = await conn.execute(
        "SELECT 1 FROM password_resets WHERE token_hash = %s AND expires_at > settlement_now()", (token_digest(token),)
    )
    return await cursor.fetchone() is not None


async def use_reset_link(conn: AsyncConnection[DictRow], token: str, password_hash: str) -> DictRow | None:
    """The account whose live reset link this is, with its new password: the link used, every other reset
    link and every session of the account ended. None for an unknown, used, replaced or expired link."""
    cursor = await conn.execute(
        "DELETE FROM password_resets WHERE token_hash = %s AND expires_at > settlement_now() RETURNING user_id",
        (token_digest(token),),
    )
    pending = await cursor.fetchone()
    if pending is None:
        return None
    cursor = await conn.execute(
        f"UPDATE users SET password_hash = %s WHERE id = %s RETURNING {USER_COLUMNS}", (password_hash, pending["user_id"])
    )
    user = await cursor.fetchone()
    await conn.execute("DELETE FROM password_resets WHERE user_id = %s", (pending["user_id"],))
    await end_all_sessions(conn, pending["user_id"])
    return user


# Kakao -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KakaoProfile:
    kakao_id: int
    email: str | None  # only when Kakao verified it
    nickname: str | None


@dataclass(frozen=True)
class KakaoState:
    nonce: str
    expires_at: dt.datetime


def new_kakao_state(settings: ApiSettings, secret: str) -> tuple[str, str]:
    """(state for the authorize URL, nonce for the browser's cookie): the callback needs both."""
    nonce = secrets.token_urlsafe(16)
    state = issue_token(secret, KAKAO_STATE_PURPOSE, nonce, dt.timedelta(seconds=settings.kakao_state_ttl_seconds))
    return state, nonce


def read_kakao_state(secret: str, state: str, cookie_nonce: str | None) -> KakaoState | None:
    """The state, if it is ours, unexpired and was issued to the browser sending this cookie."""
    try:
        claims = read_claims(secret, KAKAO_STATE_PURPOSE, state)
    except InvalidToken:
        return None
    # Bytes: compare_digest refuses str with non-ASCII characters, and the cookie is the browser's to send.
    if cookie_nonce is None or not secrets.compare_digest(claims["sub"].encode(), cookie_nonce.encode("utf-8", "surrogatepass")):
        return None
    return KakaoState(claims["sub"], dt.datetime.fromtimestamp(claims["exp"], dt.UTC))


def kakao_state_is_valid(secret: str, state: str, cookie_nonce: str | None) -> bool:
    return read_kakao_state(secret, state, cookie_nonce) is not None


async def use_kakao_state(conn: AsyncConnection[DictRow], state: KakaoState) -> bool:
    """Marks the state used; False when it was used before (a replay)."""
    cursor = await conn.execute(
        """
        WITH expired AS (DELETE FROM used_kakao_states WHERE expires_at < settlement_now())
        INSERT INTO used_kakao_states (nonce, expires_at) VALUES (%s, %s)
        ON CONFLICT DO NOTHING
        RETURNING 1
        """,
        (state.nonce, state.expires_at),
    )
    return await cursor.fetchone() is not None


def kakao_authorize_url(settings: ApiSettings, state: str) -> str:
    query = {
        "response_type": "code",
        "client_id": settings.kakao_client_id,
        "redirect_uri": settings.kakao_redirect_uri,
        "state": state,
    }
    return f"{settings.kakao_authorize_url}?{urlencode(query)}"


async def kakao_profile_for_code(settings: ApiSettings, code: str) -> KakaoProfile:
    """Code -> access token -> user info, each answer size-bounded and checked against its schema."""
    form = {
        "grant_type": "authorization_code",
        "client_id": settings.kakao_client_id,
        "redirect_uri": settings.kakao_redirect_uri,
        "code": code,
    }
    if settings.kakao_client_secret:
        form["client_secret"] = settings.kakao_client_secret.get_secret_value()
    # identity: the size bound applies to what is read, not to what it would decompress to
    async with httpx.AsyncClient(timeout=settings.kakao_timeout_seconds, headers={"Accept-Encoding": "identity"}) as client:
        token_request = client.build_request("POST", settings.kakao_token_url, data=form)
        token = await _kakao_answer(client, token_request, "token exchange", KakaoTokenIn, settings)
        info_request = client.build_request(
            "GET", settings.kakao_user_info_url, headers={"Authorization": f"Bearer {token.access_token}"}
        )
        info = await _kakao_answer(client, info_request, "user info", KakaoUserInfoIn, settings)
    return _profile_from(info)


async def _kakao_answer(
    client: httpx.AsyncClient, request: httpx.Request, step: str, schema: type[Answer], settings: ApiSettings
) -> Answer:
    try:
        response = await client.send(request, stream=True)
        try:
            if response.status_code != 200:
                raise KakaoError(step, f"HTTP {response.status_code}")
            body = await _read_at_most(response, settings.kakao_max_response_bytes, step)
        finally:
            await response.aclose()
    except httpx.HTTPError as exc:
        raise KakaoError(step, exc.__class__.__name__) from None
    try:
        return schema.model_validate_json(body)
    except ValueError:
        raise KakaoError(step, "the answer is not what Kakao documents") from None


async def _read_at_most(response: httpx.Response, max_bytes: int, step: str) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise KakaoError(step, f"the answer is larger than {max_bytes} bytes")
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise KakaoError(step, f"the answer is larger than {max_bytes} bytes")
    return bytes(body)


def _profile_from(info: KakaoUserInfoIn) -> KakaoProfile:
    account = info.kakao_account
    # An email counts only when Kakao says, with a JSON true, that the user verified it.
    email = _clean(account.email) if account is not None and account.is_email_verified is True else None
    nickname = _clean(account.profile.nickname) if account and account.profile else None
    return KakaoProfile(kakao_id=info.id, email=email, nickname=nickname[:USERNAME_MAX_LENGTH] if nickname else None)


def _clean(value: str | None) -> str | None:
    """A provider's string as storable text (no NUL, valid UTF-8, trimmed), or None."""
    if value is None:
        return None
    value = value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8").strip()
    return value or None


async def find_or_create_kakao_user(conn: AsyncConnection[DictRow], profile: KakaoProfile) -> DictRow | None:
    """The user of this Kakao account, created on first login; None when its email belongs to
    another verified account (linking accounts is left to a logged-in user, not done silently).
    Unverified signups of the email are forgotten: Kakao has shown who owns it."""
    select = f"SELECT {USER_COLUMNS} FROM users WHERE kakao_id = %s"
    existing = await (await conn.execute(select, (profile.kakao_id,))).fetchone()
    if existing:
        return existing
    if profile.email:
        await forget_unverified_signups(conn, profile.email.lower())
    # Kakao shares the email only with the user's consent: without it, a placeholder that cannot
    # receive mail (.invalid is reserved) keeps users.email unique and non-null.
    email = (profile.email or f"kakao-{profile.kakao_id}@users.kakao.invalid").lower()
    created = await (
        await conn.execute(
            f"""
            INSERT INTO users (email, username, kakao_id, email_verified) VALUES (%s, %s, %s, true)
            ON CONFLICT DO NOTHING
            RETURNING {USER_COLUMNS}
            """,
            (email, profile.nickname or f"kakao-{profile.kakao_id}", profile.kakao_id),
        )
    ).fetchone()
    if created:
        return created
    # Either a concurrent first login created it, or the email is someone else's.
    return await (await conn.execute(select, (profile.kakao_id,))).fetchone()


# ----------------------------------------------------------------------------------------------------
# Signing in, confirming a signup, resetting a password: for every way in (the JSON API, the studio's
# pages), so the rules and limits are the same. They raise HTTPException, which each caller shows its way.


def busy() -> HTTPException:
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE, "the server is busy checking passwords: try again", headers={"Retry-After": "1"}
    )


LINK_GONE = "unknown, used, expired or replaced verification link: use the newest mail sent to the address, or sign up again"
NOT_THIS_SIGNUPS_PASSWORD = (
    "this is not the password this address was signed up with. If you did not sign up with another password, "  # noqa: S105 (a message, not a secret)
    "someone else signed up with your address: sign up again, which replaces their signup"
)


async def confirm_signup(pool: ConnectionPool, settings: ApiSettings, passwords: Passwords, token: str, password: str) -> DictRow:
    """The account a verification link and its signup's password confirm, for the API and the link's page.
    Raises HTTPException: 404 no such live link, 403 another password, 409 taken meanwhile, 503 busy."""
    async with pool.connection() as conn:
        pending = await pending_signup(conn, token)
    if pending is None:
        raise not_found(LINK_GONE)
    try:  # no connection held while hashing
        matches, _ = await passwords.verify(password, pending["password_hash"])
    except HashingBusy:
        raise busy() from None
    if not matches:
        async with pool.connection() as conn:  # committed: raising inside would roll the count back
            await count_wrong_password(conn, pending["verification_id"], settings.email_verification_max_attempts)
        raise forbidden(NOT_THIS_SIGNUPS_PASSWORD)
    async with pool.connection() as conn:
        try:
            user = await verify_email(conn, token)
        except EmailTaken:
            raise conflict("another account has verified this email meanwhile") from None
    if user is None:  # followed meanwhile, or replaced by a newer signup
        raise not_found(LINK_GONE)
    return user


RESET_LINK_GONE = "unknown, used, expired or replaced password reset link: ask for a new one"


async def request_password_reset(
    request: Request, pool: ConnectionPool, settings: ApiSettings, throttle: Throttle, email: str
) -> None:
    """For the API and the page: throttled (429), then the link mailed if a verified account has the email."""
    email = email.lower()
    await throttle.admit(settings.password_reset_address_limits, "password-reset-address", client_address(request))
    await throttle.admit(settings.password_reset_account_limits, "password-reset-account", email)
    async with pool.connection() as conn:
        sent = await send_password_reset_link(conn, settings, email)
    if sent:
        request.app.state.outbox.wake()


async def reset_password(
    pool: ConnectionPool, settings: ApiSettings, passwords: Passwords, throttle: Throttle, token: str, password: str
) -> DictRow:
    """For the API and the link's page. Raises HTTPException: 404 no such live link, 503 busy."""
    async with pool.connection() as conn:  # a dead link costs no hash
        live = await reset_link_is_live(conn, token)
    if not live:
        raise not_found(RESET_LINK_GONE)
    try:
        password_hash = await passwords.hash(password)
    except HashingBusy:
        raise busy() from None
    async with pool.connection() as conn:
        user = await use_reset_link(conn, token, password_hash)
    if user is None:  # used meanwhile
        raise not_found(RESET_LINK_GONE)
    await throttle.forget(settings.login_account_limits, "login-account", user["email"])  # the owner logs in at once
    return user


async def authenticate(
    request: Request,
    pool: ConnectionPool,
    settings: ApiSettings,
    passwords: Passwords,
    throttle: Throttle,
    email: str,
    password: str,
) -> DictRow:
    """The account an email and password log in to, for every way of signing in (the API, the studio):
    throttled per account and per client address (429), the password checked off the event loop with
    bounded concurrency (503 when busy) and rehashed when its parameters are old, the email verified
    (403). Raises HTTPException otherwise."""
    email = email.lower()
    await throttle.admit(settings.login_address_limits, "login-address", client_address(request))
    await throttle.admit(settings.login_account_limits, "login-account", email)
    async with pool.connection() as conn:
        user = await user_for_login(conn, email)
    stored_hash = user["password_hash"] if user else None
    try:
        matches, new_hash = await passwords.verify(password, stored_hash)
    except HashingBusy:
        raise busy() from None
    if not matches or user is None or stored_hash is None:  # (verify() matches neither None)
        raise unauthorized("wrong email or password")
    if not user["email_verified"]:
        raise forbidden("confirm your email first: follow the link sent to it at signup")
    await throttle.forget(settings.login_account_limits, "login-account", email)
    if new_hash:
        async with pool.connection() as conn:
            await replace_password_hash(conn, user["id"], stored_hash, new_hash)
    return user
