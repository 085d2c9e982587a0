"""Every operation of the app's OpenAPI spec (read from the app, so new endpoints are covered as they
come) gets hostile values in each path, query and cookie parameter, each JSON body field and as the
whole body, once without credentials and once with the credentials the operation asks for (a
seller's token, or the operator token for /ops).

The app must answer 4xx, never 5xx, and change nothing in the database. A hostile value the spec
allows in that place (an apostrophe in a title is legal text) may be accepted: then it must come back
exactly as sent, showing it was stored as data, not run as SQL.
"""

import pytest

from tests.security.conftest import row_counts
from tests.security.spec import BODY, build, operations

HOSTILE_VALUES = {
    "sql-drop": "'; DROP TABLE users; --",
    "sql-or": "1 OR 1=1",
    "sql-comment": "1/**/UNION/**/SELECT/**/password_hash/**/FROM/**/users",
    "2**63": 2**63,
    "10**30": 10**30,
    "-2**63-1": -(2**63) - 1,
    "negative-id": -1,
    "zero": 0,
    "fraction": 1.5,
    "rtl-marks": "\u202egnp.exe\u200f\u200e",
    "emoji": "\U0001f4b8\U0001f525\u200d\U0001f469",
    "nul": "a\x00b",
    "lone-surrogate": "\ud800",
    "100k-chars": "x" * 100_000,
    "blank": " \t",
    "list": [1, "2"],
    "object": {"id": 1},
    "true": True,
    "null": None,
}

OPERATIONS = operations()


@pytest.mark.parametrize("authenticated", [False, True], ids=["anonymous", "authenticated"])
@pytest.mark.parametrize("operation", OPERATIONS, ids=[str(operation) for operation in OPERATIONS])
async def test_hostile_values_are_refused_or_stored_as_data(operation, authenticated, client, platform, conn):
    headers = {}
    if authenticated:
        # the credentials of the scheme guarding the operation (none: unguarded, sent without)
        schemes = sorted(operation.security_schemes)[:1]
        headers = {"authorization": platform["credentials"][schemes[0]]} if schemes else {}
    problems, sent = [], 0
    before = row_counts(conn)
    for target in operation.targets():
        for label, value in HOSTILE_VALUES.items():
            request, conforms = build(operation, platform["known"], target, value)
            if request is None:
                continue
            response = await client.request(
                request.method, request.url, content=request.content, headers={**request.headers, **headers}
            )
            sent += 1
            where = f"{target[0]} {target[1] or '(whole)'} = {label}: {response.status_code} {response.text[:200]}"
            after = row_counts(conn)
            if response.status_code >= 500:
                problems.append(f"server error at {where}")
            elif response.is_success and not conforms:
                problems.append(f"accepted a value the spec refuses at {where}")
            elif response.is_success:
                problems += echo_problems(target, value, response.json(), where)
            elif not response.is_client_error:
                problems.append(f"neither refused nor accepted at {where}")
            elif after != before:
                problems.append(f"refused but the database changed ({before} -> {after}) at {where}")
            before = after
    assert sent or not operation.targets()
    assert not problems, f"{operation}:\n" + "\n".join(problems)


def echo_problems(target: tuple[str, str], value, answer, where: str) -> list[str]:
    """An accepted body field must come back as sent (trimmed, for text)."""
    place, name = target
    if place != BODY or not name or not isinstance(answer, dict) or name not in answer:
        return []
    expected = value.strip() if isinstance(value, str) else value
    return [] if answer[name] == expected else [f"stored {answer[name]!r} for {expected!r} at {where}"]


async def test_the_tables_survive(conn):
    """Runs after the hostile requests of this module: the tables are all still there."""
    counts = row_counts(conn)
    assert set(counts) == {
        "users",
        "videos",
        "watch_events",
        "ad_impressions",
        "duplicate_events",
        "video_ads",
        "playback_positions",
    }
    assert conn.execute("SELECT to_regclass('users') IS NOT NULL").fetchone()[0]
