"""Every date parameter of the API and of the studio, from 0001-01-01 to 9999-12-31 and beyond: a day the
calendar has answers 200, anything else a clear 422, never a 5xx (issue 22: the studio's 30-day chart
overflowed before 0001-01-30).

The days are generated (hypothesis, derandomized: a failure reproduces), weighted towards the calendar's
two ends, where the arithmetic breaks; the operations are read from the app's OpenAPI spec, so a new
endpoint's dates are covered as it comes.
"""

import datetime as dt
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.test_stats import settled  # noqa: F401  (the settled scenario, as a fixture)
from tests.api.test_studio import sign_in
from tests.security.spec import build, operations, resolve, variants

EDGE = dt.timedelta(days=400)
DAYS = st.one_of(
    st.dates(max_value=dt.date.min + EDGE),
    st.dates(min_value=dt.date.max - EDGE),
    st.dates(),
)
# What a date field can be sent as: four digits, two, two (the format the spec states), days that do not
# exist (0000-01-01, 2026-02-30, 2026-13-01) included.
DATE_SHAPED = st.from_regex(re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"), fullmatch=True)
NOT_DATES = st.sampled_from(["10000-01-01", "-0001-01-01", "0001-1-1", "20260101", "2026-01-01T00:00:00", "", "today"])
PERIODS = ("day", "week", "month")
EXAMPLES = 40
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def is_a_day(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return bool(re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text))


def date_targets(kind: str = "date") -> list[tuple[object, tuple[str, str]]]:
    """(operation, (place, name)) of every parameter and body field of the spec in this format."""
    found = []
    for operation in operations():
        for parameter in operation.parameters:
            if any(option.get("format") == kind for option in variants(parameter["schema"])):
                found.append((operation, (parameter["in"], parameter["name"])))
        if operation.body_schema is not None:
            for name, field in resolve(operation.body_schema).get("properties", {}).items():
                if any(option.get("format") == kind for option in variants(field)):
                    found.append((operation, ("body", name)))
    return found


DATE_TARGETS = date_targets()
DATE_TIME_TARGETS = date_targets("date-time")
# Instants anywhere in the calendar, written with offsets up to the widest ISO 8601 allows: where a
# conversion to UTC would leave the calendar (0001-01-01T00:00+14:00), arithmetic breaks first.
OFFSETS = st.sampled_from([dt.timedelta(0), dt.timedelta(hours=14), -dt.timedelta(hours=14), dt.timedelta(hours=23, minutes=59),
                           -dt.timedelta(hours=23, minutes=59), dt.timedelta(hours=9)]).map(dt.timezone)  # fmt: skip
INSTANTS = st.one_of(
    st.datetimes(max_value=dt.datetime.min + EDGE, timezones=OFFSETS),
    st.datetimes(min_value=dt.datetime.max - EDGE, timezones=OFFSETS),
    st.datetimes(timezones=OFFSETS),
)


def test_the_spec_has_the_date_parameters_this_module_covers():
    names = {(str(operation), target) for operation, target in DATE_TARGETS}
    assert {
        ("GET /sellers/{seller_id}/payouts", ("query", "date")),
        ("GET /rankings", ("query", "date")),
        ("GET /videos/{video_id}/stats", ("query", "from")),
        ("GET /videos/{video_id}/stats", ("query", "to")),
        ("GET /ops/runs", ("query", "date")),
    } <= names, names


@pytest.fixture
async def seller_platform(settled, client):  # noqa: F811
    """A settled day, and the credentials and ids the operations need."""
    seller_a, _, videos = settled
    return {
        "known": {"seller_id": seller_a.id, "video_id": videos["long"]["id"]},
        "headers": {"UserToken": seller_a.headers["Authorization"], "OperatorToken": "Bearer test-operator-token"},
        "seller": seller_a,
        "videos": videos,
    }


@SETTINGS
@given(text=st.one_of(DAYS.map(dt.date.isoformat), DATE_SHAPED, NOT_DATES))
async def test_every_date_of_the_api_answers_200_or_422(client, seller_platform, text):
    expected = 200 if is_a_day(text) else 422
    for operation, target in DATE_TARGETS:
        request, _ = build(operation, seller_platform["known"], target, text)
        schemes = sorted(operation.security_schemes)
        headers = {"authorization": seller_platform["headers"][schemes[0]]} if schemes else {}
        response = await client.request(
            request.method, request.url, content=request.content, headers={**request.headers, **headers}
        )
        assert response.status_code == expected, (str(operation), target, text, response.status_code, response.text[:300])


def test_the_spec_has_the_date_times_this_module_covers():
    assert ("POST /videos/{video_id}/playback/start", ("body", "occurred_at")) in {
        (str(operation), target) for operation, target in DATE_TIME_TARGETS
    }


@SETTINGS
@given(instant=INSTANTS)
async def test_every_instant_of_the_api_is_taken_or_a_422(client, seller_platform, make_account, instant):
    """A playback time outside the window around the server's clock is a 422 (inside it would be taken)."""
    if "viewer" not in seller_platform:
        seller_platform["viewer"] = await make_account("edgeviewer")
    for operation, target in DATE_TIME_TARGETS:
        request, _ = build(operation, seller_platform["known"], target, instant.isoformat())
        headers = {"authorization": seller_platform["viewer"].headers["Authorization"]}
        response = await client.request(
            request.method, request.url, content=request.content, headers={**request.headers, **headers}
        )
        assert response.status_code in (200, 422), (
            str(operation),
            instant.isoformat(),
            response.status_code,
            response.text[:300],
        )


@SETTINGS
@given(day=DAYS, period=st.sampled_from(PERIODS))
async def test_every_day_of_the_calendar_opens_the_studio(client, seller_platform, day, period):
    if "studio_session" not in client.cookies:
        assert (await sign_in(client, seller_platform["seller"].email)).status_code == 303
    video = seller_platform["videos"]["long"]["id"]
    for path in ("/studio", f"/studio/videos/{video}"):
        page = await client.get(path, params={"period": period, "date": day.isoformat()})
        assert page.status_code == 200, (path, period, day, page.text[:300])
        assert "text/html" in page.headers["content-type"]


@SETTINGS
@given(text=st.one_of(DATE_SHAPED, NOT_DATES), period=st.sampled_from(PERIODS))
async def test_a_date_the_calendar_lacks_is_a_clear_422_page_in_the_studio(client, seller_platform, text, period):
    if "studio_session" not in client.cookies:
        assert (await sign_in(client, seller_platform["seller"].email)).status_code == 303
    video = seller_platform["videos"]["long"]["id"]
    for path in ("/studio", f"/studio/videos/{video}"):
        page = await client.get(path, params={"period": period, "date": text})
        if is_a_day(text) or text == "":
            # an empty date is the date picker left blank: the page's default day
            assert page.status_code == 200, (path, text, page.text[:300])
            continue
        assert page.status_code == 422, (path, text, page.status_code, page.text[:300])
        assert "text/html" in page.headers["content-type"] and "YYYY-MM-DD" in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
