"""The account pages a mail links to, server-rendered like the studio (no script, forms posting to this
site only): confirming an email address with the password of its signup; asking for a password reset
(linked from the sign-in page) and choosing the new password.

They call what the JSON API calls (api.auth.service), so the rules and limits are the same; a refusal is
the API's, as a page.
"""

import re
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from api.auth import service as auth
from api.auth.dependencies import PasswordHashing, Throttling
from api.auth.schemas import VERIFICATION_TOKEN_PATTERN, PasswordResetConfirmIn, PasswordResetIn
from api.database import Pool
from api.dependencies import AppSettings
from api.studio import session
from api.studio.pages import NO_REFERRER, page, small_form

router = APIRouter(include_in_schema=False)
LinkToken = Annotated[str, Query(max_length=100)]
BROKEN_LINK = "This link is not complete: open the newest mail sent to your address again, or sign up again."
# How a refused confirmation reads (the API's statuses: api.auth.service.confirm_signup).
NOT_CONFIRMED = {
    403: "This is not the password this address was signed up with. If you did not sign up with another "
    "password, someone else signed up with your address: sign up again, which replaces their signup.",
    404: "This link does not work any more (used, expired, or replaced by a newer signup): open the newest mail "
    "sent to your address, or sign up again.",
    409: "Another account has confirmed this address meanwhile: sign in, or reset its password.",
    503: "The server is busy: try again in a moment.",
}


def form_fields(form: dict[str, list[str]] | None, *names: str) -> tuple[str, ...] | None:
    if form is None:
        return None
    values = tuple(form.get(name, [""])[0] for name in names)
    return None if any("\x00" in value for value in values) else values


@router.get("/verify-email")
async def verify_email_form(token: LinkToken = "") -> Response:
    error = None if re.fullmatch(VERIFICATION_TOKEN_PATTERN.strip("^$"), token) else BROKEN_LINK
    return page("verify_email.html", 200 if error is None else 400, headers=NO_REFERRER, user=None, token=token, error=error)


@router.post("/verify-email")
async def verify_email(request: Request, pool: Pool, settings: AppSettings, passwords: PasswordHashing) -> Response:
    if not session.comes_from_this_site(request):
        return page("message.html", 403, headers=NO_REFERRER, user=None, title="Not confirmed",
                    message="Confirm your address from this site's own page: open the link in the mail again.")  # fmt: skip
    fields = form_fields(await small_form(request), "token", "password")
    if fields is None:
        return page("verify_email.html", 400, headers=NO_REFERRER, user=None, token="", error=BROKEN_LINK)
    token, password = fields
    try:
        await auth.confirm_signup(pool, settings, passwords, token, password)
    except HTTPException as refused:
        wrong_password = refused.status_code == 403
        return page(
            "verify_email.html" if wrong_password else "message.html", refused.status_code, headers=NO_REFERRER,
            user=None, token=token, error=NOT_CONFIRMED[403], title="Not confirmed",
            message=NOT_CONFIRMED.get(refused.status_code, NOT_CONFIRMED[404]),
        )  # fmt: skip
    return page("message.html", headers=NO_REFERRER, user=None, title="Your email address is confirmed",
                message="Your account is ready: sign in with your email and password.",
                next_url="/studio/login", next_label="Sign in")  # fmt: skip


BROKEN_RESET_LINK = "This link is not complete: open the newest password mail again, or ask for a new link."
RESET_REFUSED = {
    404: "This link does not work any more (used, expired, or replaced by a newer one): ask for a new link.",
    429: "Too many requests: wait a little, then try again.",
    503: "The server is busy: try again in a moment.",
}


def from_elsewhere(title: str) -> Response:
    return page("message.html", 403, headers=NO_REFERRER, user=None, title=title,
                message="Use this site's own page: open the link in the mail again.")  # fmt: skip


@router.get("/forgot-password")
async def forgot_password_form() -> Response:
    return page("forgot_password.html", user=None, email="", error=None)


@router.post("/forgot-password")
async def forgot_password(request: Request, pool: Pool, settings: AppSettings, throttle: Throttling) -> Response:
    if not session.comes_from_this_site(request):
        return from_elsewhere("Not sent")
    fields = form_fields(await small_form(request), "email")
    email = fields[0].strip() if fields else ""
    try:
        PasswordResetIn(email=email)
    except ValidationError:
        return page("forgot_password.html", 422, user=None, email=email[:320], error="Enter your account's email address.")
    try:
        await auth.request_password_reset(request, pool, settings, throttle, email)
    except HTTPException as refused:
        return page("forgot_password.html", refused.status_code, headers=refused.headers, user=None, email=email[:320],
                    error=RESET_REFUSED.get(refused.status_code, RESET_REFUSED[429]))  # fmt: skip
    return page("message.html", 202, user=None, title="Check your mail",
                message="If an account has this address, a mail with a link to choose a new password is on its way "
                "there. The link works once; only the newest one works.",
                next_url="/studio/login", next_label="Back to sign in")  # fmt: skip


@router.get("/reset-password")
async def reset_password_form(token: LinkToken = "") -> Response:
    error = None if re.fullmatch(VERIFICATION_TOKEN_PATTERN.strip("^$"), token) else BROKEN_RESET_LINK
    return page("reset_password.html", 200 if error is None else 400, headers=NO_REFERRER, user=None, token=token, error=error)


@router.post("/reset-password")
async def reset_password_page(
    request: Request, pool: Pool, settings: AppSettings, passwords: PasswordHashing, throttle: Throttling
) -> Response:
    if not session.comes_from_this_site(request):
        return from_elsewhere("Password not changed")
    fields = form_fields(await small_form(request), "token", "password")
    if fields is None:
        return page("reset_password.html", 400, headers=NO_REFERRER, user=None, token="", error=BROKEN_RESET_LINK)
    token, password = fields
    try:
        PasswordResetConfirmIn(token=token, password=password)
    except ValidationError as invalid:
        fields_wrong = {str(error["loc"][0]) for error in invalid.errors()}
        error = BROKEN_RESET_LINK if "token" in fields_wrong else "Choose a password of at least 8 characters (and at most 256)."
        return page("reset_password.html", 422, headers=NO_REFERRER, user=None, token=token, error=error)
    try:
        await auth.reset_password(pool, settings, passwords, throttle, token, password)
    except HTTPException as refused:
        return page("message.html", refused.status_code, headers=NO_REFERRER, user=None, title="Password not changed",
                    message=RESET_REFUSED.get(refused.status_code, RESET_REFUSED[404]),
                    next_url="/forgot-password", next_label="Ask for a new link")  # fmt: skip
    return page("message.html", headers=NO_REFERRER, user=None, title="Your password is changed",
                message="Every session of the account is signed out: sign in with the new password.",
                next_url="/studio/login", next_label="Sign in")  # fmt: skip
