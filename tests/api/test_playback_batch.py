"""POST /playback/events: a viewer's batch answers and records exactly what the same events sent one by
one to the single event endpoints answer and record (refusals of every reason, retries, mixed pairs,
midnight, out-of-order events), and what the API's code before the set-based path answered and recorded
(tests/api/playback_reference.py): three viewers get the same events, on examples and on batches
hypothesis makes up."""

import asyncio
import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note
from hypothesis import strategies as st
from psycopg.rows import dict_row

from settlement import clock
from tests.api import playback_reference
from tests.api.test_playback import VIDEO

UNKNOWN_VIDEO = 424242
SINGLE_ACTION = {"START": "start", "PROGRESS": "progress", "PAUSE": "pause", "STOP": "stop"}
NOT_ANSWERED = {"counts_as_view": None, "resume_position_seconds": None, "position_seconds": None, "ad_impressions": []}


def event(video_id: int, kind: str, occurred_at: str, event_id: uuid.UUID | None = None, position=None, watched=None) -> dict:
    body = {"video_id": video_id, "kind": kind, "event_id": str(event_id or uuid.uuid4()), "occurred_at": occurred_at}
    if kind != "START":
        body["position_seconds"] = position
        if watched is not None:
            body["watched_seconds"] = watched
    return body


async def send_batch(client, viewer, events: list[dict]):
    return await client.post("/playback/events", json={"events": events}, headers=viewer.headers)


async def send_one(client, viewer, item: dict):
    """The event to its single endpoint."""
    body = {key: value for key, value in item.items() if key not in ("video_id", "kind")}
    return await client.post(
        f"/videos/{item['video_id']}/playback/{SINGLE_ACTION[item['kind']]}", json=body, headers=viewer.headers
    )


def without_clock(value):
    """An answer with the server's time in refusal messages blanked (it moves between two requests)."""
    return json.loads(re.sub(r"server time [^)\"]*", "server time T", json.dumps(value)))


def as_batch_answer(item: dict, response) -> dict:
    """What the batch answers for item, from what its single endpoint answered."""
    answer = {"event_id": item["event_id"], "video_id": item["video_id"], "kind": item["kind"], **NOT_ANSWERED, "refusal": None}
    body = response.json()
    if response.status_code != 200:
        return {**answer, "status": "refused", "refusal": {"status_code": response.status_code, "detail": body["detail"]}}
    answer["status"] = "duplicate" if body["duplicate"] else "recorded"
    if item["kind"] == "START":
        return {**answer, "counts_as_view": body["counts_as_view"], "resume_position_seconds": body["resume_position_seconds"]}
    return {**answer, "position_seconds": body["position_seconds"], "ad_impressions": body["ad_impressions"]}


def stored(conn, user_id: int) -> dict:
    """Everything recording wrote for a viewer, without the viewer's id and the times of arrival."""
    return {
        "watch_events": conn.execute(
            """SELECT event_id, kind, video_id, occurred_at, position_seconds, watched_seconds FROM watch_events
               WHERE user_id = %s ORDER BY event_id""",
            (user_id,),
        ).fetchall(),
        "watch_event_ids": conn.execute(
            "SELECT event_id FROM watch_event_ids WHERE user_id = %s ORDER BY event_id", (user_id,)
        ).fetchall(),
        "ad_impressions": conn.execute(
            """SELECT event_id, video_id, ad_id, slot, occurred_at FROM ad_impressions WHERE user_id = %s
               ORDER BY event_id""",
            (user_id,),
        ).fetchall(),
        "ad_impression_ids": conn.execute(
            "SELECT event_id FROM ad_impression_ids WHERE user_id = %s ORDER BY event_id", (user_id,)
        ).fetchall(),
        "duplicate_events": conn.execute(
            """SELECT source, event_id, occurred_at, raw_row - 'user_id' - 'received_at' FROM duplicate_events
               WHERE (raw_row ->> 'user_id')::bigint = %s ORDER BY id""",
            (user_id,),
        ).fetchall(),
        "playback_positions": conn.execute(
            "SELECT video_id, position_seconds, updated_at FROM playback_positions WHERE user_id = %s ORDER BY video_id",
            (user_id,),
        ).fetchall(),
    }


@dataclass
class World:
    batcher: object  # sends batches
    one_by_one: object  # sends the same events to the single endpoints
    reference: int  # a viewer whose same events the code before the set-based path records
    reference_conn: psycopg.AsyncConnection
    seller: object
    videos: dict


@pytest.fixture
async def reference_conn(database_url):
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as connection:
        yield connection


@pytest.fixture
async def world(make_account, add_ads, upload, conn, at, reference_conn) -> World:
    """Three viewers, and a seller's videos of every kind an event can meet: one with ads in slots
    1..3, a short one, one taken down, one that goes live at 00:30 of the event day, an unknown id."""
    seller = await make_account("seller", seller=True)
    add_ads(3)
    ads = await upload(seller, {**VIDEO, "duration_seconds": 960})
    short = await upload(seller, {**VIDEO, "duration_seconds": 200})
    taken_down = await upload(seller, {**VIDEO, "duration_seconds": 600})
    conn.execute("UPDATE videos SET status = 'INACTIVE' WHERE id = %s", (taken_down["id"],))
    late = await upload(seller, {**VIDEO, "duration_seconds": 600})
    conn.execute("UPDATE video_live_periods SET live_from = %s WHERE video_id = %s", (at(-11.5 * 60), late["id"]))
    batcher, one_by_one, reference = (
        await make_account("batcher"),
        await make_account("one-by-one"),
        await make_account("reference"),
    )
    videos = {
        "ads": ads["id"],
        "short": short["id"],
        "taken_down": taken_down["id"],
        "late": late["id"],
        "unknown": UNKNOWN_VIDEO,
    }
    return World(batcher, one_by_one, reference.id, reference_conn, seller, videos)


async def compare(client, conn, world: World, batches: list[list[dict]], api_settings) -> list[dict]:
    """Sends the batches as batches, event by event to the single endpoints, and event by event to the
    code before; asserts the answers and the stored rows are the same; returns the batches' answers."""
    answers = []
    for events in batches:
        response = await send_batch(client, world.batcher, events)
        assert response.status_code == 200, response.text
        batch = response.json()
        singles = [as_batch_answer(item, await send_one(client, world.one_by_one, item)) for item in events]
        before = [await playback_reference.record(world.reference_conn, api_settings, world.reference, item) for item in events]
        assert without_clock(batch["events"]) == without_clock(singles) == without_clock(before)
        statuses = [answer["status"] for answer in batch["events"]]
        assert (batch["recorded"], batch["duplicates"], batch["refused"]) == tuple(
            statuses.count(status) for status in ("recorded", "duplicate", "refused")
        )
        answers += batch["events"]
    assert stored(conn, world.batcher.id) == stored(conn, world.one_by_one.id) == stored(conn, world.reference)
    return answers


async def test_every_refusal_reason_is_answered_as_its_single_endpoint_does(client, world, at, conn, api_settings):
    batcher, videos = world.batcher, world.videos
    now = clock.now()
    events = [
        event(videos["unknown"], "START", at(0)),  # 404
        event(videos["taken_down"], "PROGRESS", at(0), position=10, watched=10),  # 409 not playable
        event(videos["late"], "START", at(-12 * 60)),  # 409 not live at 00:00
        event(videos["short"], "PROGRESS", at(0), position=201, watched=1),  # 422 past the end
        event(videos["short"], "STOP", at(0), position=10, watched=201),  # 422 more than the video
        event(videos["ads"], "START", (now + dt.timedelta(hours=1)).isoformat()),  # 422 in the future
        event(videos["ads"], "START", (now - dt.timedelta(hours=api_settings.playback_max_event_age_hours + 1)).isoformat()),
        event(videos["ads"], "START", at(1)),  # and one that is recorded
    ]
    answers = await compare(client, conn, world, [events], api_settings)
    assert [answer["status"] for answer in answers] == ["refused"] * 7 + ["recorded"]
    assert [answer["refusal"]["status_code"] for answer in answers[:7]] == [404, 409, 409, 422, 422, 422, 422]
    assert answers[0]["refusal"]["detail"] == f"no video {UNKNOWN_VIDEO}"
    assert "is past the end of the video (200 s)" in answers[3]["refusal"]["detail"][0]["msg"]
    assert conn.execute("SELECT count(*) FROM watch_events WHERE user_id = %s", (batcher.id,)).fetchone()[0] == 1


async def test_a_retried_batch_records_nothing_twice(client, world, at, conn, api_settings):
    batcher, videos = world.batcher, world.videos
    session = [
        event(videos["ads"], "START", at(0)),
        event(videos["ads"], "PROGRESS", at(5), position=300, watched=300),  # crosses slot 1
        event(videos["ads"], "PAUSE", at(6), position=310, watched=10),
    ]
    answers = await compare(client, conn, world, [session, session], api_settings)
    first, again = answers[:3], answers[3:]
    assert await compare(client, conn, world, [session], api_settings) == again  # and a third time
    assert [answer["status"] for answer in first] == ["recorded"] * 3
    assert len(first[1]["ad_impressions"]) == 1
    assert [answer["status"] for answer in again] == ["duplicate"] * 3
    assert again[0]["counts_as_view"] is False and again[1]["ad_impressions"] == []
    assert again[2]["position_seconds"] == 310
    counts = conn.execute(
        """SELECT (SELECT count(*) FROM watch_events WHERE user_id = %(u)s), (SELECT count(*) FROM ad_impressions WHERE user_id = %(u)s),
                  (SELECT count(*) FROM duplicate_events WHERE (raw_row ->> 'user_id')::bigint = %(u)s)""",
        {"u": batcher.id},
    ).fetchone()
    assert counts == (3, 1, 6)  # the two retries' copies kept for the quality gate's report


async def test_a_batch_mixing_pairs_moves_each_saved_position_as_one_by_one(client, world, at, conn, api_settings):
    batcher, videos = world.batcher, world.videos
    events = [
        event(videos["ads"], "START", at(0)),
        event(videos["short"], "START", at(0)),
        event(videos["ads"], "PROGRESS", at(10), position=600, watched=600),  # slots 1 and 2
        event(videos["short"], "PROGRESS", at(2), position=120, watched=120),
        event(videos["ads"], "PROGRESS", at(5), position=900, watched=300),  # late: recorded, not moved
        event(videos["short"], "STOP", at(3), position=180, watched=60),
        event(videos["ads"], "START", at(11)),  # inside the window: resumes at 600, no view
    ]
    answers = await compare(client, conn, world, [events], api_settings)
    assert [answer["counts_as_view"] for answer in answers if answer["kind"] == "START"] == [True, True, False]
    assert [impression["slot"] for impression in answers[2]["ad_impressions"]] == [1, 2]
    assert answers[4]["position_seconds"] == 600 and [i["slot"] for i in answers[4]["ad_impressions"]] == [3]
    assert answers[6]["resume_position_seconds"] == 600
    positions = dict(conn.execute("SELECT video_id, position_seconds FROM playback_positions WHERE user_id = %s", (batcher.id,)))
    assert positions == {videos["ads"]: 600, videos["short"]: 180}


async def test_the_view_window_boundary_inside_a_batch(client, world, at, conn, api_settings):
    """A START exactly the window after the pair's last event (of the same batch) is a view; a second
    less is not, as the engine counts."""
    videos = world.videos
    window = api_settings.view_window_hours * 60
    events = [
        event(videos["ads"], "START", at(-window)),
        event(videos["ads"], "START", at(0)),  # exactly the window later: a view
        event(videos["short"], "START", at(-window + 1 / 60)),
        event(videos["short"], "START", at(0)),  # a second less: none
    ]
    answers = await compare(client, conn, world, [events], api_settings)
    assert [answer["counts_as_view"] for answer in answers] == [True, True, True, False]


async def test_a_batch_across_midnight(client, world, at, conn, event_day, api_settings):
    batcher, videos = world.batcher, world.videos
    midnight = -12 * 60  # minutes from noon of event_day
    events = [
        event(videos["ads"], "START", at(midnight - 0.5)),
        event(videos["ads"], "PROGRESS", at(midnight + 0.5), position=60, watched=60),
        event(videos["ads"], "STOP", at(midnight + 1), position=90, watched=30),
    ]
    await compare(client, conn, world, [events], api_settings)
    days = conn.execute(
        "SELECT (occurred_at AT TIME ZONE %s)::date FROM watch_events WHERE user_id = %s ORDER BY occurred_at",
        (api_settings.time_zone, batcher.id),
    ).fetchall()
    assert [day for (day,) in days] == [event_day - dt.timedelta(days=1), event_day, event_day]


async def test_a_seller_watching_their_own_video_is_no_view(client, world, at, conn):
    seller, videos = world.seller, world.videos
    batch = (await send_batch(client, seller, [event(videos["short"], "START", at(0))])).json()
    single = (await send_one(client, seller, event(videos["ads"], "START", at(0)))).json()
    assert batch["events"][0]["status"] == "recorded" and batch["events"][0]["counts_as_view"] is False
    assert single["duplicate"] is False and single["counts_as_view"] is False
    # recorded all the same: the engine quarantines it (self_view), events in = counted + quarantined
    assert conn.execute("SELECT count(*) FROM watch_events WHERE user_id = %s", (seller.id,)).fetchone()[0] == 2


async def test_a_malformed_batch_is_refused_whole(client, world, at, conn):
    batcher, videos = world.batcher, world.videos
    good = event(videos["ads"], "START", at(0))
    naive = event(videos["ads"], "START", at(1)[:19])  # no UTC offset
    negative = event(videos["ads"], "PROGRESS", at(1), position=-1)
    for bad in (naive, negative):
        batch = await send_batch(client, batcher, [good, bad])
        single = await send_one(client, world.one_by_one, bad)
        assert batch.status_code == single.status_code == 422
        (batch_error,), (single_error,) = batch.json()["detail"], single.json()["detail"]
        assert batch_error["loc"][:3] == ["body", "events", 1] and batch_error["loc"][-1] == single_error["loc"][-1]
        assert batch_error["msg"] == single_error["msg"]
    unknown_kind = await send_batch(client, batcher, [good, {**good, "kind": "REWIND"}])
    assert unknown_kind.status_code == 422 and unknown_kind.json()["detail"][0]["loc"][:3] == ["body", "events", 1]
    assert conn.execute("SELECT count(*) FROM watch_events").fetchone()[0] == 0  # not even the good one


async def test_the_batch_limits(client, world, at, conn, api_settings):
    batcher, videos = world.batcher, world.videos
    start = dt.datetime.fromisoformat(at(0))

    def session(n: int) -> list[dict]:
        events = [event(videos["ads"], "START", start.isoformat())]
        return events + [
            event(videos["ads"], "PROGRESS", (start + dt.timedelta(seconds=s)).isoformat(), position=s % 960, watched=1)
            for s in range(1, n)
        ]

    too_many = await send_batch(client, batcher, session(501))
    assert too_many.status_code == 422
    assert "a batch holds at most 500 events, not 501" in too_many.json()["detail"][0]["msg"]

    # 500 events, indented: larger than any other endpoint takes, within the batch's own limit
    indented = json.dumps({"events": session(500)}, indent=8).encode()
    assert api_settings.max_request_body_bytes < len(indented) < api_settings.playback_batch_max_body_bytes
    full = await client.post(
        "/playback/events", content=indented, headers={**batcher.headers, "content-type": "application/json"}
    )
    assert full.status_code == 200 and full.json()["recorded"] == 500

    over = b'{"events": [' + b" " * api_settings.playback_batch_max_body_bytes + b"]}"
    refused = await client.post("/playback/events", content=over, headers={**batcher.headers, "content-type": "application/json"})
    assert refused.status_code == 413
    assert refused.json()["detail"] == f"the request body is larger than {api_settings.playback_batch_max_body_bytes} bytes"
    assert conn.execute("SELECT count(*) FROM watch_events").fetchone()[0] == 500
    assert (await client.post("/playback/events", json={"events": []})).status_code == 401


async def test_concurrent_copies_of_a_batch_and_crossing_batches(client, world, at, conn):
    """Six copies of one batch at once record it once; a viewer's batches over the same pairs in
    opposite orders, at once, neither deadlock nor lose an event."""
    batcher, videos = world.batcher, world.videos
    pairs = [videos["ads"], videos["short"], videos["late"]]
    one = [event(video, "START", at(n)) for n, video in enumerate(pairs)]
    answers = await asyncio.gather(*(send_batch(client, batcher, one) for _ in range(6)))
    assert [answer.status_code for answer in answers] == [200] * 6
    assert sorted(answer.json()["recorded"] for answer in answers) == [0] * 5 + [3]

    def crossing(order: list[int], minute: int) -> list[dict]:
        return [event(video, "PROGRESS", at(minute), position=100, watched=10) for video in order]

    batches = [crossing(pairs if n % 2 else pairs[::-1], 10 + n) for n in range(12)]
    answers = await asyncio.gather(*(send_batch(client, batcher, batch) for batch in batches))
    assert [answer.json()["recorded"] for answer in answers] == [3] * 12
    assert conn.execute("SELECT count(*) FROM watch_events WHERE user_id = %s", (batcher.id,)).fetchone()[0] == 3 + 36


# ---------------------------------------------------------------------------------------------------
# Made-up batches: mixed pairs, duplicates inside a batch and across batches, every refusal, midnight,
# events out of order.

KINDS = ["START", "PROGRESS", "PAUSE", "STOP"]
VIDEO_NAMES = ["ads", "ads", "ads", "short", "short", "taken_down", "late", "unknown"]
REUSED_IDS = [uuid.UUID(int=n) for n in range(1, 7)]  # ids a client sends again (retries, or a bug)


@st.composite
def made_up_event(draw) -> tuple:
    kind = draw(st.sampled_from(KINDS))
    odds = draw(st.integers(0, 19))
    if odds < 2:
        when = ["future", "too old"][odds]
    elif odds < 10:
        when = draw(st.integers(-13 * 60 * 60, -11 * 60 * 60))  # seconds from noon: around midnight, on both sides
    else:
        when = draw(st.integers(-60, 60 * 60))
    event_id = draw(st.one_of(st.sampled_from(REUSED_IDS), st.uuids(version=4)))
    # around the lengths (200 s, 600 s, 960 s) and the ad slots (every 300 s)
    position = draw(st.one_of(st.integers(0, 1000), st.sampled_from([0, 200, 201, 299, 300, 600, 900, 960, 961])))
    watched = draw(st.one_of(st.none(), st.integers(0, 90), st.sampled_from([0, 1, 200, 201, 300, 600, 960, 961])))
    return draw(st.sampled_from(VIDEO_NAMES)), kind, when, event_id, position, watched


def as_event(videos: dict, at, api_settings, drawn: tuple) -> dict:
    name, kind, when, event_id, position, watched = drawn
    if when == "future":
        occurred_at = (clock.now() + dt.timedelta(hours=2)).isoformat()
    elif when == "too old":
        occurred_at = (clock.now() - dt.timedelta(hours=api_settings.playback_max_event_age_hours + 2)).isoformat()
    else:
        occurred_at = at(when / 60)
    return event(videos[name], kind, occurred_at, event_id, position, watched)


def empty_recordings(conn) -> None:
    conn.execute(
        "TRUNCATE watch_events, watch_event_ids, ad_impressions, ad_impression_ids, duplicate_events, playback_positions"
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batches=st.lists(st.lists(made_up_event(), min_size=1, max_size=25), min_size=1, max_size=3), retried=st.booleans())
async def test_made_up_batches_answer_and_record_as_one_by_one(client, world, at, conn, api_settings, batches, retried):
    videos = world.videos
    empty_recordings(conn)
    sent = [[as_event(videos, at, api_settings, drawn) for drawn in batch] for batch in batches]
    answers = await compare(client, conn, world, sent + sent[:1] if retried else sent, api_settings)
    for answer in answers:  # what the examples met (pytest --hypothesis-show-statistics)
        refusal = answer["refusal"]
        detail = refusal and refusal["detail"]
        reason = detail and (
            " ".join(detail.split()[2:5]) if isinstance(detail, str) else f"{detail[0]['loc'][-1]} {detail[0]['msg'][:12]}"
        )
        note(answer["status"] if refusal is None else f"refused {refusal['status_code']} {reason}")
