import asyncio
import datetime as dt
import uuid

import pytest

from settlement import clock

VIDEO = {"title": "Lecture", "video_url": "https://cdn.example.com/v/lecture.mp4"}


@pytest.fixture
async def watching(make_account, add_ads, upload):
    """(viewer, video) for a 16-minute video with ads in slots 1..3 (at 300, 600 and 900 s)."""
    seller = await make_account("seller", seller=True)
    add_ads(3)
    video = await upload(seller, {**VIDEO, "duration_seconds": 960})
    return await make_account("viewer"), video


def playback(client, viewer, video):
    async def send(action: str, occurred_at: str, event_id: uuid.UUID | None = None, **positions):
        body = {"event_id": str(event_id or uuid.uuid4()), "occurred_at": occurred_at, **positions}
        return await client.post(f"/videos/{video['id']}/playback/{action}", json=body, headers=viewer.headers)

    return send


async def test_start_resumes_and_counts_a_view_only_after_the_window(client, watching, at, conn):
    viewer, video = watching
    send = playback(client, viewer, video)
    early = -50 * 60  # minutes: the first session is 50 h before the last start
    first = (await send("start", at(early))).json()
    assert first["counts_as_view"] is True and first["resume_position_seconds"] == 0
    progress = await send("progress", at(early + 2), position_seconds=120, watched_seconds=120)
    assert progress.json()["position_seconds"] == 120
    assert (await send("pause", at(early + 3), position_seconds=130, watched_seconds=10)).status_code == 200

    again = (await send("start", at(early + 60))).json()  # an hour later: inside the 48 h window
    assert again["counts_as_view"] is False and again["resume_position_seconds"] == 130
    await send("stop", at(early + 61), position_seconds=140, watched_seconds=10)

    # 48 h after the pair's last event (the stop) it is a new view.
    later = (await send("start", at(early + 61 + 48 * 60))).json()
    assert later["counts_as_view"] is True and later["resume_position_seconds"] == 140

    events = conn.execute(
        "SELECT kind, position_seconds, watched_seconds FROM watch_events WHERE user_id = %s ORDER BY occurred_at",
        (viewer.id,),
    ).fetchall()
    assert events == [
        ("START", 0, 0),
        ("PROGRESS", 120, 120),
        ("PAUSE", 130, 10),
        ("START", 130, 0),
        ("STOP", 140, 10),
        ("START", 140, 0),
    ]


@pytest.mark.parametrize(("gap_seconds", "counts"), [(48 * 3600, True), (48 * 3600 - 1, False)])
async def test_the_window_boundary_matches_the_engine(client, watching, at, gap_seconds, counts):
    # The engine counts a START whose pair's last event is at least the window before it.
    viewer, video = watching
    send = playback(client, viewer, video)
    await send("start", at(-gap_seconds / 60))
    assert (await send("start", at(0))).json()["counts_as_view"] is counts


async def test_a_retried_event_changes_nothing(client, watching, at, conn):
    viewer, video = watching
    send = playback(client, viewer, video)
    start_id, progress_id = uuid.uuid4(), uuid.uuid4()
    assert (await send("start", at(0), start_id)).json()["duplicate"] is False
    retried_start = (await send("start", at(0), start_id)).json()
    assert retried_start["duplicate"] is True and retried_start["counts_as_view"] is False

    await send("progress", at(1), progress_id, position_seconds=60, watched_seconds=60)
    await send("progress", at(2), position_seconds=90, watched_seconds=30)
    retried = (await send("progress", at(1), progress_id, position_seconds=60, watched_seconds=60)).json()
    assert retried["duplicate"] is True and retried["position_seconds"] == 90  # not moved back
    assert conn.execute("SELECT count(*) FROM watch_events").fetchone()[0] == 3
    # The copies are kept for the quality gate's report (reason duplicate_event), not counted.
    copies = conn.execute("SELECT event_id, raw_row ->> 'kind' FROM duplicate_events ORDER BY id").fetchall()
    assert copies == [(start_id, "START"), (progress_id, "PROGRESS")]


async def test_concurrent_copies_of_one_event_record_it_once(client, watching, at, conn):
    viewer, video = watching
    send = playback(client, viewer, video)
    event_id = uuid.uuid4()
    answers = await asyncio.gather(*(send("start", at(0), event_id) for _ in range(6)))
    assert [answer.status_code for answer in answers] == [200] * 6
    assert sorted(answer.json()["duplicate"] for answer in answers) == [False] + [True] * 5
    assert conn.execute("SELECT count(*) FROM watch_events").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM duplicate_events").fetchone()[0] == 5


async def test_playing_across_an_ad_slot_records_its_impression_once(client, watching, at, conn):
    viewer, video = watching
    ad_of_slot = {ad["slot"]: ad["ad_id"] for ad in video["ads"]}
    send = playback(client, viewer, video)
    await send("start", at(0))
    assert (await send("progress", at(1), position_seconds=299, watched_seconds=299)).json()["ad_impressions"] == []

    crossing = uuid.uuid4()
    first = (await send("progress", at(2), crossing, position_seconds=300, watched_seconds=1)).json()
    assert first["ad_impressions"] == [{"event_id": str(uuid.uuid5(crossing, "ad-slot-1")), "slot": 1, "ad_id": ad_of_slot[1]}]
    assert (await send("progress", at(2), crossing, position_seconds=300, watched_seconds=1)).json()["duplicate"]

    # A seek past two slots (5 s played, from 945 s) reaches neither; playing across them does.
    assert (await send("progress", at(3), position_seconds=950, watched_seconds=5)).json()["ad_impressions"] == []
    assert (await send("progress", at(4), position_seconds=0, watched_seconds=0)).json()["ad_impressions"] == []
    played = (await send("progress", at(15), position_seconds=910, watched_seconds=910)).json()
    assert [impression["slot"] for impression in played["ad_impressions"]] == [1, 2, 3]

    rows = conn.execute("SELECT ad_id, slot, user_id, video_id FROM ad_impressions").fetchall()
    expected = [(ad_of_slot[slot], slot, viewer.id, video["id"]) for slot in (1, 1, 2, 3)]
    assert sorted(rows) == sorted(expected)


async def test_the_seek_loop_records_no_impression(client, watching, at, conn):
    """START, then 25 jumps to the end and back (nothing played): no ad impression at all."""
    viewer, video = watching
    send = playback(client, viewer, video)
    await send("start", at(0))
    for n in range(25):
        end = await send("progress", at(n / 30 + 0.01), position_seconds=960, watched_seconds=0)
        back = await send("progress", at(n / 30 + 0.02), position_seconds=0, watched_seconds=0)
        assert end.status_code == back.status_code == 200
        assert end.json()["ad_impressions"] == back.json()["ad_impressions"] == []
    assert conn.execute("SELECT count(*) FROM ad_impressions").fetchone()[0] == 0


async def test_claims_the_api_can_refuse_at_once(client, watching, at, conn):
    viewer, video = watching
    send = playback(client, viewer, video)
    # a day's worth of watching claimed on a 16-minute video
    claim = await send("progress", at(0), position_seconds=10, watched_seconds=86_400)
    assert claim.status_code == 422 and claim.json()["detail"][0]["loc"] == ["body", "watched_seconds"]
    # an event before the video went live
    conn.execute("UPDATE video_live_periods SET live_from = %s WHERE video_id = %s", (at(60), video["id"]))
    before = await send("start", at(30))
    assert before.status_code == 409 and "not live" in before.json()["detail"]
    assert (await send("start", at(90))).status_code == 200
    assert conn.execute("SELECT count(*) FROM watch_events").fetchone()[0] == 1


async def test_one_users_event_id_never_hides_another_users_event(client, watching, make_account, at, conn):
    """A client that always sends the nil UUID: each user's event is recorded, a user's copy is not."""
    viewer, video = watching
    other = await make_account("other")
    nil = uuid.UUID(int=0)
    first = await playback(client, viewer, video)("start", at(0), nil)
    second = await playback(client, other, video)("start", at(0), nil)
    again = await playback(client, viewer, video)("start", at(1), nil)
    assert [r.json()["duplicate"] for r in (first, second, again)] == [False, False, True]
    assert conn.execute("SELECT count(*) FROM watch_events WHERE event_id = %s", (nil,)).fetchone()[0] == 2


async def test_a_copy_claiming_another_day_is_a_duplicate(client, watching, at, conn):
    viewer, video = watching
    send = playback(client, viewer, video)
    event_id = uuid.uuid4()
    assert (await send("start", at(0), event_id)).json()["duplicate"] is False
    copy = (await send("start", at(-24 * 60), event_id)).json()  # the same id, the day before
    assert copy["duplicate"] is True
    assert conn.execute("SELECT count(*) FROM watch_events").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM duplicate_events WHERE event_id = %s", (event_id,)).fetchone()[0] == 1


async def test_a_late_event_does_not_move_the_position_or_show_ads(client, watching, at, conn):
    viewer, video = watching
    send = playback(client, viewer, video)
    await send("progress", at(10), position_seconds=200, watched_seconds=200)
    late = (await send("progress", at(5), position_seconds=400, watched_seconds=100)).json()
    assert late["duplicate"] is False and late["position_seconds"] == 200 and late["ad_impressions"] == []
    saved = conn.execute("SELECT position_seconds FROM playback_positions").fetchone()[0]
    assert saved == 200
    assert conn.execute("SELECT count(*) FROM watch_events").fetchone()[0] == 2  # still recorded


async def test_playback_input_is_validated(client, watching, at, api_settings):
    viewer, video = watching
    send = playback(client, viewer, video)
    past_end = await send("progress", at(0), position_seconds=961)
    assert past_end.status_code == 422
    assert past_end.json()["detail"][0]["loc"] == ["body", "position_seconds"]
    assert "past the end of the video (960 s)" in past_end.json()["detail"][0]["msg"]

    now = clock.now()
    future = await send("start", (now + dt.timedelta(hours=1)).isoformat())
    too_old = await send("start", (now - dt.timedelta(hours=api_settings.playback_max_event_age_hours + 1)).isoformat())
    naive = await send("start", now.replace(tzinfo=None).isoformat())
    assert future.status_code == too_old.status_code == naive.status_code == 422
    assert "in the future" in future.json()["detail"][0]["msg"]
    assert "older than" in too_old.json()["detail"][0]["msg"]
    assert "timezone" in naive.json()["detail"][0]["msg"]

    negative = await send("pause", at(0), position_seconds=-1)
    assert negative.status_code == 422


async def test_playback_needs_a_login_and_a_playable_video(client, watching, at, conn):
    viewer, video = watching
    body = {"event_id": str(uuid.uuid4()), "occurred_at": at(0)}
    assert (await client.post(f"/videos/{video['id']}/playback/start", json=body)).status_code == 401
    unknown = await client.post("/videos/424242/playback/start", json=body, headers=viewer.headers)
    assert unknown.status_code == 404
    conn.execute("UPDATE videos SET status = 'INACTIVE' WHERE id = %s", (video["id"],))
    inactive = await client.post(f"/videos/{video['id']}/playback/start", json=body, headers=viewer.headers)
    assert inactive.status_code == 409 and "not playable" in inactive.json()["detail"]
