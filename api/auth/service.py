"""Users, passwords, login tokens and the Kakao OAuth 2.0 authorization-code flow."""

import asyncio
import datetime as dt
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from psycopg import AsyncConnection
from psycopg.rows import DictRow

from api.schemas import BIGINT_MAX
from settlement.config import Settings

JWT_ALGORITHM = "HS256"
ACCESS_PURPOSE = "access"
KAKAO_STATE_PURPOSE = "kakao-state"

_hasher = PasswordHasher()
# Verified against when the email is unknown, so a wrong email takes as long as a wrong password.
_UNKNOWN_USER_HASH = _hasher.hash(secrets.token_hex(16))

USER_COLUMNS = "id, email, username, role, password_hash, kakao_id IS NOT NULL AS kakao_linked, created_at"


class InvalidToken(Exception):
    pass


class KakaoError(Exception):
    """The provider refused or failed; the message says which step."""


# Passwords -------------------------------------------------------------------------------------


async def hash_password(password: str) -> str:
    # argon2 is deliberately slow: keep it off the event loop.
    return await asyncio.to_thread(_hasher.hash, password)


async def password_matches(password_hash: str | None, password: str) -> bool:
    try:
        return await asyncio.to_thread(_hasher.verify, password_hash or _UNKNOWN_USER_HASH, password)
    except (VerifyMismatchError, InvalidHashError):
        return False


# Tokens ----------------------------------------------------------------------------------------


def issue_token(secret: str, purpose: str, subject: str, ttl: dt.timedelta) -> str:
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": subject, "purpose": purpose, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


def read_token(secret: str, purpose: str, token: str) -> str:
    """The token's subject, if it is ours, unexpired and made for this purpose."""
    try:
        claims = jwt.decode(token, secret, algorithms=[JWT_ALGORITHM], options={"require": ["sub", "exp"]})
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(str(exc)) from None
    if claims.get("purpose") != purpose:
        raise InvalidToken("token made for another purpose")
    return claims["sub"]


def issue_access_token(settings: Settings, secret: str, user_id: int) -> tuple[str, int]:
    ttl = dt.timedelta(minutes=settings.jwt_ttl_minutes)
    return issue_token(secret, ACCESS_PURPOSE, str(user_id), ttl), int(ttl.total_seconds())


def user_id_of(secret: str, token: str) -> int:
    subject = read_token(secret, ACCESS_PURPOSE, token)
    if not subject.isdecimal() or not 1 <= int(subject) <= BIGINT_MAX:
        raise InvalidToken("token subject is not a user id")
    return int(subject)


# Users -----------------------------------------------------------------------------------------


async def create_user(conn: AsyncConnection[DictRow], email: str, username: str, password_hash: str) -> DictRow | None:
    """The new user, or None when the email is taken."""
    cursor = await conn.execute(
        f"""
        INSERT INTO users (email, username, password_hash) VALUES (%s, %s, %s)
        ON CONFLICT (email) DO NOTHING
        RETURNING {USER_COLUMNS}
        """,
        (email, username, password_hash),
    )
    return await cursor.fetchone()


async def user_by_email(conn: AsyncConnection[DictRow], email: str) -> DictRow | None:
    cursor = await conn.execute(f"SELECT {USER_COLUMNS} FROM users WHERE email = %s", (email,))
    return await cursor.fetchone()


async def user_by_id(conn: AsyncConnection[DictRow], user_id: int) -> DictRow | None:
    cursor = await conn.execute(f"SELECT {USER_COLUMNS} FROM users WHERE id = %s", (user_id,))
    return await cursor.fetchone()


async def make_seller(conn: AsyncConnection[DictRow], user_id: int) -> DictRow:
    cursor = await conn.execute(
        f"UPDATE users SET role = 'SELLER' WHERE id = %s RETURNING {USER_COLUMNS}", (user_id,)
    )
    return await cursor.fetchone()


# Kakao -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KakaoProfile:
    kakao_id: int
    email: str | None
    nickname: str | None


def new_kakao_state(settings: Settings, secret: str) -> tuple[str, str]:
    """(state for the authorize URL, nonce for the browser's cookie): the callback needs both."""
    nonce = secrets.token_urlsafe(16)
    state = issue_token(secret, KAKAO_STATE_PURPOSE, nonce, dt.timedelta(seconds=settings.kakao_state_ttl_seconds))
    return state, nonce


def kakao_state_is_valid(secret: str, state: str, cookie_nonce: str | None) -> bool:
    try:
        nonce = read_token(secret, KAKAO_STATE_PURPOSE, state)
    except InvalidToken:
        return False
    # Bytes: compare_digest refuses str with non-ASCII characters, and the cookie is the browser's to send.
    return cookie_nonce is not None and secrets.compare_digest(
        nonce.encode(), cookie_nonce.encode("utf-8", "surrogatepass")
    )


def kakao_authorize_url(settings: Settings, state: str) -> str:
    query = {
        "response_type": "code",
        "client_id": settings.kakao_client_id,
        "redirect_uri": settings.kakao_redirect_uri,
        "state": state,
    }
    return f"{settings.kakao_authorize_url}?{urlencode(query)}"


async def kakao_profile_for_code(settings: Settings, code: str) -> KakaoProfile:
    """Code -> access token -> user info."""
    form = {
        "grant_type": "authorization_code",
        "client_id": settings.kakao_client_id,
        "redirect_uri": settings.kakao_redirect_uri,
        "code": code,
    }
    if settings.kakao_client_secret:
        form["client_secret"] = settings.kakao_client_secret.get_secret_value()
    async with httpx.AsyncClient(timeout=settings.kakao_timeout_seconds) as client:
        token = await _kakao_json(client.post(settings.kakao_token_url, data=form), "token exchange")
        access_token = token.get("access_token")
        if not isinstance(access_token, str):
            raise KakaoError("token exchange: no access_token in the answer")
        info = await _kakao_json(
            client.get(settings.kakao_user_info_url, headers={"Authorization": f"Bearer {access_token}"}),
            "user info",
        )
    return _profile_from(info)


async def _kakao_json(request, step: str) -> dict:
    try:
        response = await request
    except httpx.HTTPError as exc:
        raise KakaoError(f"{step}: {exc.__class__.__name__}: {exc}") from None
    if response.status_code != 200:
        raise KakaoError(f"{step}: HTTP {response.status_code} {response.text[:200]}")
    try:
        body = response.json()
    except ValueError:
        raise KakaoError(f"{step}: the answer is not JSON") from None
    if not isinstance(body, dict):
        raise KakaoError(f"{step}: the answer is not a JSON object")
    return body


def _profile_from(info: dict) -> KakaoProfile:
    kakao_id = info.get("id")
    if not isinstance(kakao_id, int) or not 1 <= kakao_id <= BIGINT_MAX:
        raise KakaoError("user info: no usable id")
    account = info.get("kakao_account") or {}
    profile = account.get("profile") or {}
    email = account.get("email") if account.get("is_email_verified", True) else None
    return KakaoProfile(kakao_id=kakao_id, email=_clean(email), nickname=_clean(profile.get("nickname")))


def _clean(value) -> str | None:
    """A provider's string as storable text, or None."""
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8").strip()
    return value or None


async def find_or_create_kakao_user(conn: AsyncConnection[DictRow], profile: KakaoProfile) -> DictRow | None:
    """The user of this Kakao account, created on first login; None when its email belongs to
    another account (linking accounts is left to a logged-in user, not done silently)."""
    select = f"SELECT {USER_COLUMNS} FROM users WHERE kakao_id = %s"
    existing = await (await conn.execute(select, (profile.kakao_id,))).fetchone()
    if existing:
        return existing
    # Kakao shares the email only with the user's consent: without it, a placeholder that cannot
    # receive mail (.invalid is reserved) keeps users.email unique and non-null.
    email = (profile.email or f"kakao-{profile.kakao_id}@users.kakao.invalid").lower()
    created = await (
        await conn.execute(
            f"""
            INSERT INTO users (email, username, kakao_id) VALUES (%s, %s, %s)
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
