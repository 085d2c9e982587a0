"""Who is signed in to the studio: the same access token as the API's, kept in an HttpOnly, SameSite=Strict
cookie scoped to /studio (scripts cannot read it; other sites' pages cannot send it). The JSON API keeps
taking the token only as a bearer header, so the cookie opens the studio pages and nothing else."""

from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from psycopg import AsyncConnection
from psycopg.rows import DictRow

from api.auth import service as auth
from api.config import ApiSettings

STUDIO_PATH = "/studio"
SESSION_COOKIE = "studio_session"
# Set by /studio/kakao for the Kakao round trip: the callback then lands in the studio instead of answering JSON.
KAKAO_LANDING_COOKIE = "kakao_login_lands_in"
KAKAO_LANDS_IN_STUDIO = "studio"


async def start_session(
    conn: AsyncConnection[DictRow], response: Response, settings: ApiSettings, secret: str, user_id: int, secure: bool
) -> None:
    """A new session (api.auth.service.start_session), its token in the cookie."""
    token, ttl = await auth.start_session(conn, settings, secret, user_id)
    response.set_cookie(SESSION_COOKIE, token, max_age=ttl, path=STUDIO_PATH, httponly=True, samesite="strict", secure=secure)


async def end_session(request: Request, conn: AsyncConnection[DictRow], response: Response, secure: bool) -> None:
    """Signs out: the cookie's session ends on the server (its token is refused from now on, wherever it is
    sent: a copy of the cookie, the API), and the browser drops the cookie."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await auth.end_session(conn, request.app.state.jwt_secret, token)
    response.delete_cookie(SESSION_COOKIE, path=STUDIO_PATH, httponly=True, samesite="strict", secure=secure)


async def signed_in_user(request: Request, conn: AsyncConnection[DictRow]) -> DictRow | None:
    """The user of the session cookie, or None (no cookie, a token that is not ours, expired or signed out,
    a user gone)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    return await auth.user_of_token(conn, request.app.state.jwt_secret, token)


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def comes_from_this_site(request: Request) -> bool:
    """A form post sent by one of our own pages: browsers say where a request comes from (Sec-Fetch-Site,
    Origin); a post from another site (login CSRF) is refused. Clients that send neither are not browsers."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"


async def land_in_studio(conn: AsyncConnection[DictRow], settings: ApiSettings, secret: str, user: DictRow) -> HTMLResponse:
    """The end of a Kakao login started from the studio: the session cookie, then the studio. The page
    moves on by itself (a meta refresh) rather than by a redirect, so the next request is made by our own
    page and carries the SameSite=Strict cookie (after a redirect chain begun on Kakao's site it would not)."""
    response = HTMLResponse(
        '<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=/studio">'
        '<title>Signed in</title><p>Signed in. <a href="/studio">Open the studio</a>.</p>',
        # the callback's address carries the code and state: no page should learn it as a referrer
        headers={"Content-Security-Policy": "default-src 'none'", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"},
    )
    secure = settings.kakao_redirect_uri.startswith("https://")
    await start_session(conn, response, settings, secret, user["id"], secure)
    response.delete_cookie(KAKAO_LANDING_COOKIE, path="/auth/kakao", httponly=True, samesite="lax", secure=secure)
    return response
