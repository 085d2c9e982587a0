"""Server-rendered pages (the studio, and the account pages a mail links to): the templates, the headers
every page is sent with (a CSP allowing no script), and the page for input a page cannot take."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from api.studio.formatting import FILTERS, PAYMENT_LABELS, STATUS_LABELS, STATUS_MEANINGS, period_label

HERE = Path(__file__).parent
templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined
)
templates.filters.update(FILTERS)
templates.globals.update(
    status_labels=STATUS_LABELS, status_meanings=STATUS_MEANINGS, period_label=period_label, payment_labels=PAYMENT_LABELS
)
# Nothing but our own stylesheet and forms posting to ourselves; no script at all, no framing.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
# For the pages a mail links to: their address carries a token, which no request of theirs may pass on.
NO_REFERRER = {"Referrer-Policy": "no-referrer"}
MAX_FORM_BYTES = 4096
DAYS_ARE = "Days are written YYYY-MM-DD, from 0001-01-01 to 9999-12-31."


def page(name: str, status_code: int = 200, headers: Mapping[str, str] | None = None, **context: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(name).render(**context), status_code, headers={**PAGE_HEADERS, **(headers or {})})


def invalid_input_page(errors: list[dict[str, Any]]) -> HTMLResponse:
    """422 as a page: what in the address (or form) cannot be taken, field by field."""
    problems = [f"{error['loc'][-1] if error.get('loc') else 'input'}: {error.get('msg', 'invalid')}" for error in errors]
    return page(
        "message.html",
        422,
        user=None,
        title="This page cannot be shown",
        message=f"The address asks for something that is not there ({'; '.join(problems)}). {DAYS_ARE}",
    )


async def small_form(request: Request) -> dict[str, list[str]] | None:
    """A urlencoded form of a few short fields (the sign-in form, the account forms), or None."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return None
    try:
        return parse_qs(body.decode("utf-8", "replace"), max_num_fields=4)
    except ValueError:  # more fields than such a form has
        return None
