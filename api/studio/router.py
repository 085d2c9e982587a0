"""The seller studio: server-rendered pages (no build step, no script, nothing from another site).

/studio/login signs in with the same password check as /auth/login (or hands over to the Kakao flow),
and keeps the access token in an HttpOnly, SameSite=Strict cookie (api.studio.session). The pages read
through the API's service functions and show only the signed-in seller's own results.
"""

import datetime as dt
import time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from psycopg import AsyncConnection
from psycopg.rows import DictRow
from pydantic import BeforeValidator, ValidationError

from api.auth import service as auth
from api.auth.dependencies import PasswordHashing, Throttling, require_own_seller_data
from api.database import Connection, Pool, ResultsConnection
from api.dependencies import AppSettings
from api.errors import unauthorized
from api.payments import service as payments_service
from api.payments.schemas import PayoutAccountIn
from api.schemas import BIGINT_MAX, Day
from api.stats.schemas import Period
from api.studio import service, session
from api.studio.pages import HERE, PAGE_HEADERS, page, small_form
from api.videos.service import video_by_id
from settlement import clock

router = APIRouter(include_in_schema=False)
STYLESHEET = (HERE / "static" / "studio.css").read_bytes()


def _blank_is_none(value: object) -> object:
    return None if value == "" else value


# The date picker left blank (date=) opens the page's default day, as no date does.
PageDay = Annotated[Day | None, BeforeValidator(_blank_is_none), Query()]


# How a refused sign-in reads on the page (the API's statuses: api.auth.service.authenticate).
SIGN_IN_REFUSED = {
    401: "Wrong email or password.",
    403: "Confirm your email first: follow the link sent to it when you signed up.",
    429: "Too many attempts: wait a little, then try again.",
    503: "The server is busy: try again in a moment.",
}


def to_login() -> RedirectResponse:
    return RedirectResponse("/studio/login", status.HTTP_303_SEE_OTHER)


def yesterday(request: Request) -> dt.date:
    return clock.yesterday(request.app.state.settings.time_zone)


def refusal(request: Request, user: DictRow, exc: HTTPException) -> HTMLResponse:
    """The API's refusal (403 not a seller or not yours, 404 nothing settled yet) as a page."""
    return page("message.html", exc.status_code, user=user, title="Not available", message=exc.detail)


@router.get("/studio/assets/studio.css")
async def stylesheet() -> Response:
    return Response(STYLESHEET, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


@router.get("/studio/login")
async def login_form(request: Request, conn: Connection) -> Response:
    if await session.signed_in_user(request, conn):
        return RedirectResponse("/studio", status.HTTP_303_SEE_OTHER)
    return page("login.html", user=None, kakao=bool(request.app.state.settings.kakao_client_id), error=None, email="")


@router.post("/studio/login")
async def login(
    request: Request, pool: Pool, settings: AppSettings, passwords: PasswordHashing, throttle: Throttling
) -> Response:
    kakao = bool(settings.kakao_client_id)
    if not session.comes_from_this_site(request):
        return page("login.html", 403, user=None, kakao=kakao, error="Sign in from this site's own page.", email="")
    form = await small_form(request)
    if form is None:
        return page("login.html", 400, user=None, kakao=kakao, error="Send the sign-in form as it is.", email="")
    email, password = (form.get(field, [""])[0] for field in ("email", "password"))
    try:
        if "\x00" in email or "\x00" in password:
            raise unauthorized("wrong email or password")
        user = await auth.authenticate(request, pool, settings, passwords, throttle, email.strip(), password)
    except HTTPException as refused:  # the API's answer, as a page: same limits, same wording
        return page(
            "login.html",
            refused.status_code,
            user=None,
            kakao=kakao,
            error=SIGN_IN_REFUSED.get(refused.status_code, "Wrong email or password."),
            email=email[:320],
            headers=refused.headers,
        )
    response = RedirectResponse("/studio", status.HTTP_303_SEE_OTHER)
    async with pool.connection() as conn:
        await session.start_session(
            conn, response, request.app.state.settings, request.app.state.jwt_secret, user["id"], session.is_https(request)
        )
    return response


@router.post("/studio/logout")
async def logout(request: Request, conn: Connection) -> Response:
    if not session.comes_from_this_site(request):
        return page("message.html", 403, user=None, title="Not signed out", message="Sign out from this site's own page.")
    response = to_login()
    await session.end_session(request, conn, response, session.is_https(request))
    return response


@router.get("/studio/kakao")
async def kakao_login(request: Request) -> Response:
    """Kakao login, landing back in the studio: marks the round trip, then the API's own Kakao flow."""
    settings = request.app.state.settings
    response = RedirectResponse("/auth/kakao/login", status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        session.KAKAO_LANDING_COOKIE,
        session.KAKAO_LANDS_IN_STUDIO,
        max_age=settings.kakao_state_ttl_seconds,
        path="/auth/kakao",
        httponly=True,
        samesite="lax",  # sent on the top-level return from Kakao's site
        secure=settings.kakao_redirect_uri.startswith("https://"),
    )
    return response


@router.get("/studio")
async def overview(
    request: Request,
    conn: ResultsConnection,
    period: Period = Period.DAY,
    date: PageDay = None,
    sort: service.VideoOrder = service.VideoOrder.PAYOUT,
) -> Response:
    started = time.perf_counter()
    user = await session.signed_in_user(request, conn)
    if user is None:
        return to_login()
    try:
        require_own_seller_data(user, user["id"])
        day = date or await service.default_day(conn, yesterday(request))
        shown = await service.overview(conn, user["id"], period, day, sort, yesterday(request))
    except HTTPException as exc:
        return refusal(request, user, exc)
    response = page("overview.html", user=user, period=period.value, day=day, **service.navigation(shown["payouts"]), **shown)
    response.headers["Server-Timing"] = f"studio;dur={(time.perf_counter() - started) * 1000:.1f}"
    return response


@router.get("/studio/videos/{video_id}")
async def video(
    request: Request,
    conn: ResultsConnection,
    video_id: Annotated[int, PathParam(ge=1, le=BIGINT_MAX)],
    period: Period = Period.MONTH,
    date: PageDay = None,
) -> Response:
    user = await session.signed_in_user(request, conn)
    if user is None:
        return to_login()
    try:
        require_own_seller_data(user, user["id"])
        found = await video_by_id(conn, video_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no video {video_id}")
        require_own_seller_data(user, found["seller_id"])
        day = date or await service.default_day(conn, yesterday(request))
        shown = await service.video_page(conn, found, period, day, request.app.state.settings.zone)
    except HTTPException as exc:
        return refusal(request, user, exc)
    return page("video.html", user=user, video=found, period=period.value, day=day, **service.navigation(shown), **shown)


# ----------------------------------------------------------------------------------------------------
# Payments: the balance and its progress to the threshold, the payout account, the statements (a
# printable page each, and CSV) and the payment history, read through the payments API's own service.


async def payments_page(
    request: Request, conn: AsyncConnection[DictRow], user: DictRow, status_code: int = 200, account_error: str | None = None
) -> Response:
    shown = {
        "balance": await payments_service.balance(conn, user["id"]),
        "account": await payments_service.payout_account(conn, user["id"]),
        "statements": (await payments_service.statements(conn, user["id"]))["statements"],
        "payments": (await payments_service.payment_history(conn, user["id"]))["payments"],
    }
    return page(
        "payments.html", status_code, user=user, zone=request.app.state.settings.zone, account_error=account_error, **shown
    )


@router.get("/studio/payments")
async def payments_overview(request: Request, conn: ResultsConnection) -> Response:
    user = await session.signed_in_user(request, conn)
    if user is None:
        return to_login()
    try:
        require_own_seller_data(user, user["id"])
        return await payments_page(request, conn, user)
    except HTTPException as exc:
        return refusal(request, user, exc)


@router.post("/studio/payments/account")
async def register_payout_account(request: Request, conn: ResultsConnection) -> Response:
    """The payout account form: the same rules as PUT /sellers/{id}/payout-account."""
    user = await session.signed_in_user(request, conn)
    if user is None:
        return to_login()
    try:
        require_own_seller_data(user, user["id"])
    except HTTPException as exc:
        return refusal(request, user, exc)
    if not session.comes_from_this_site(request):
        return page(
            "message.html", 403, user=user, title="Not registered", message="Register your account from this site's own page."
        )
    form = await small_form(request)
    fields = None if form is None else {name: form.get(name, [""])[0] for name in ("holder", "bank_code", "account_number")}
    try:
        account = PayoutAccountIn(**(fields or {}))
    except ValidationError:
        return await payments_page(request, conn, user, 422, ACCOUNT_REFUSED)
    await payments_service.register_payout_account(conn, user["id"], account.holder, account.bank_code, account.account_number)
    return RedirectResponse("/studio/payments", status.HTTP_303_SEE_OTHER)


ACCOUNT_REFUSED = (
    "Not registered: the holder takes 1 to 60 characters, the bank code 3 digits, the account number 6 to 20 digits."
)


async def own_statement(
    request: Request, conn: AsyncConnection[DictRow], number: int
) -> tuple[DictRow | None, dict[str, Any] | Response]:
    user = await session.signed_in_user(request, conn)
    if user is None:
        return None, to_login()
    try:
        require_own_seller_data(user, user["id"])
        shown = await payments_service.statement(conn, user["id"], number)
        if shown is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"You have no statement No. {number}.")
    except HTTPException as exc:
        return user, refusal(request, user, exc)
    return user, shown


@router.get("/studio/payments/statements/{number}")
async def statement_page(
    request: Request, conn: ResultsConnection, number: Annotated[int, PathParam(ge=1, le=2**31 - 1)]
) -> Response:
    user, shown = await own_statement(request, conn, number)
    if isinstance(shown, Response):
        return shown
    return page("statement.html", user=user, s=shown, zone=request.app.state.settings.zone)


@router.get("/studio/payments/statements/{number}/csv")
async def statement_csv(
    request: Request, conn: ResultsConnection, number: Annotated[int, PathParam(ge=1, le=2**31 - 1)]
) -> Response:
    _, shown = await own_statement(request, conn, number)
    if isinstance(shown, Response):
        return shown
    return Response(
        payments_service.statement_csv(shown),
        media_type="text/csv; charset=utf-8",
        headers={**PAGE_HEADERS, "Content-Disposition": f'attachment; filename="statement-{shown["statement"]}.csv"'},
    )
