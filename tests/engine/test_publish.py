"""One publish per day: everything readers see for a day switches from the old state to the new one in
one transaction, or not at all.

- The kill matrix: a run is stopped at every model boundary (and in its publish) and killed there, by
  SIGKILL of its process or by pg_terminate_backend of the backend about to build the model; every time
  the published state is the previous one, whole and consistent across marts, and the next run
  completes the day. The publish is killed both ways; the models alternate between the two kinds in
  name order (each kind reaches every materialization), which halves the test's time.
  SETTLEMENT_KILL_MATRIX=full kills at every model both ways.
- A reader polling while a day is settled again never gets an error, and always sees one whole state.
- A run that lost the pipeline (its session ended; another run took over) cannot publish.

How a run is stopped at a model boundary: the test holds the row lock of the run's pipeline_runs row.
Every model's pre-hook renews the run's lease on that row, and the publish checks it there, so the run
waits at the start of its next model (or of its publish); dbt's query comment names the node.
"""

import datetime as dt
import json
import multiprocessing
import os
import re
import signal
import threading
import time
from collections import defaultdict

import psycopg
import pytest

from settlement import pipeline
from settlement.config import EngineSettings
from tests.engine.published import PUBLISHED
from tests.engine.scenario import Platform, at

D = dt.date(2026, 11, 20)
PUBLISH = "publish"  # the kill point of the run's publish (its on-run-end)
ATTEMPTS = 8  # a node may slip past the gate while another is let through: more likely on a loaded machine


@pytest.fixture
def settings(database_url) -> EngineSettings:
    return EngineSettings(_env_file=None, database_url=database_url)


def build_day(conn) -> tuple[Platform, int]:
    p = Platform(conn)
    seller = p.user("seller", "SELLER")
    video, other = p.video(seller, 900), p.video(seller, 400)
    ad = p.ad(dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    conn.execute("INSERT INTO video_ads (video_id, ad_id, slot) VALUES (%s, %s, 1)", (video, ad))
    for n in range(4):
        viewer = p.user(f"viewer{n}")
        p.event("START", viewer, video, at(D, 10 + n))
        p.event("PROGRESS", viewer, video, at(D, 10 + n, 6), 330, position_seconds=330)
        p.impression(viewer, video, ad, 1, at(D, 10 + n, 6))
        p.event("START", viewer, other, at(D, 15 + n))
    return p, video


def add_late_activity(p: Platform, video: int) -> None:
    """What the rerun finds: new views and ad views (rows change in every published mart)."""
    for n in range(3):
        viewer = p.user(f"late{n}-{time.monotonic_ns()}")
        p.event("START", viewer, video, at(D, 20 + n))
        p.event("PROGRESS", viewer, video, at(D, 20 + n, 6), 330, position_seconds=330)
        ad = p.conn.execute("SELECT ad_id FROM video_ads WHERE video_id = %s", (video,)).fetchone()[0]
        p.impression(viewer, video, ad, 1, at(D, 20 + n, 6))


def published_state(conn) -> dict:
    """What readers see, read as the API reads it (api/database.py ResultsConnection): the publish lock,
    shared, first; then every statement, READ COMMITTED, sees one published state."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock_shared(settlement_lock_key('publish'))")
        state = {name: sorted(map(repr, conn.execute(f"SELECT * FROM analytics.{name}").fetchall())) for name in PUBLISHED}
        state["settled_days"] = conn.execute("SELECT day, run_id FROM settled_days ORDER BY day").fetchall()
        state["consistency"] = inconsistencies(conn)
    return state


def inconsistencies(conn) -> list[str]:
    """Cross-mart checks on one snapshot; an empty list when the marts agree."""
    problems = []
    daily = dict(conn.execute("SELECT video_id, payout FROM analytics.fct_video_daily WHERE settled_on = %s", (D,)).fetchall())
    period = dict(
        conn.execute(
            "SELECT video_id, payout FROM analytics.fct_video_payouts WHERE period = 'day' AND period_start = %s", (D,)
        ).fetchall()
    )
    if daily != period:
        problems.append(f"daily {daily} != day slice {period}")
    ads = defaultdict(int)
    for video, amount in conn.execute("SELECT video_id, ad_payout FROM analytics.fct_video_ad_daily WHERE settled_on = %s", (D,)):
        ads[video] += amount
    video_ads = dict(
        conn.execute(
            "SELECT video_id, ad_payout FROM analytics.fct_video_daily WHERE settled_on = %s AND ad_payout > 0", (D,)
        ).fetchall()
    )
    if dict(ads) != video_ads:
        problems.append(f"ad rows {dict(ads)} != videos' ad payouts {video_ads}")
    top = [
        video
        for (video,) in conn.execute(
            """SELECT video_id FROM analytics.rpt_top_videos WHERE period = 'day' AND period_start = %s
           AND scope = 'platform' AND metric = 'views' ORDER BY rank""",
            (D,),
        )
    ]
    expected_top = [
        video
        for (video,) in conn.execute(
            """SELECT video_id FROM analytics.fct_video_payouts WHERE period = 'day' AND period_start = %s AND views > 0
           ORDER BY views DESC, video_id LIMIT 5""",
            (D,),
        )
    ]
    if top != expected_top:
        problems.append(f"top {top} != {expected_top}")
    for source, ingested, counted, quarantined in conn.execute(
        "SELECT source, ingested, counted, quarantined FROM analytics.fct_event_intake_daily WHERE settled_on = %s", (D,)
    ):
        if ingested != counted + quarantined:
            problems.append(f"{source}: {ingested} != {counted} + {quarantined}")
    return problems


# ---------------------------------------------------------------------------------------------------
# Running a settlement in a child process, and stopping it at a model boundary


def _settle_in_child(settings: EngineSettings, day: dt.date) -> None:
    try:
        results = pipeline.run_days(settings, day)
        os._exit(0 if results and results[-1].succeeded else 1)
    except BaseException:
        os._exit(2)


def start_run(settings: EngineSettings, day: dt.date) -> multiprocessing.Process:
    """A settlement of `day` in a forked process (it reuses this process's parsed dbt project)."""
    process = multiprocessing.get_context("fork").Process(target=_settle_in_child, args=(settings, day))
    process.start()
    return process


NODE = re.compile(r'"node_id": "model\.settlement\.(\w+)"')


class Gate:
    """Holds the row lock of a run's pipeline_runs row, so the run waits at its next model or publish."""

    def __init__(self, database_url: str):
        self.conn = psycopg.connect(database_url)
        self.watch = psycopg.connect(database_url, autocommit=True)

    def close_on(self, run_id: int) -> None:
        self.conn.execute("SELECT 1 FROM pipeline_runs WHERE id = %s FOR UPDATE", (run_id,))

    def open(self) -> None:
        self.conn.commit()

    def waiting(self) -> dict[str, int]:
        """kill point -> backend pid, of the run's statements waiting on the gate."""
        points = {}
        for pid, query in self.watch.execute(
            """SELECT pid, query FROM pg_stat_activity
               WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> %s""",
            (self.conn.info.backend_pid,),
        ):
            node = NODE.search(query)
            if node:
                points[node.group(1)] = pid
            elif "settlement_lock_key('publish')" in query:
                points[PUBLISH] = pid
            else:  # the run's start (join_settlement_run), its heartbeat: let through
                points[f"other:{pid}:{query[:200]}"] = pid
        return points

    def let_through(self, pids: set[int], timeout: float = 10) -> None:
        """Waits until these backends no longer wait on the gate (they took the row lock and went on)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and pids & set(self.waiting().values()):
            time.sleep(0.001)

    def finish(self) -> None:
        self.conn.close()
        self.watch.close()


def wait_for_run(conn, previous: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute("SELECT id FROM pipeline_runs WHERE status = 'RUNNING' AND id > %s", (previous,)).fetchone()
        if row:
            return row[0]
        time.sleep(0.005)
    raise AssertionError("the run never started")


def stop_at(gate: Gate, conn, run_id: int, point: str, process: multiprocessing.Process, timeout: float = 60) -> int | None:
    """Lets the run through model after model until `point` waits at the gate; its backend pid (None if
    the run ended without reaching it)."""
    gate.close_on(run_id)
    deadline = time.monotonic() + timeout
    passed, trace = set(), []
    while time.monotonic() < deadline:
        if not process.is_alive():
            return None
        waiting = gate.waiting()
        if point in waiting:
            return waiting[point]
        # Let through whatever waits that is not the point: the run's start and heartbeats, each model at
        # its boundary, and a model waiting again after its boundary (seen once under load; not a kill point).
        if waiting:
            if set(waiting) - passed:
                trace.append(sorted(waiting))
            passed |= {name for name in waiting if not name.startswith("other:")}
            gate.open()  # let the waiting nodes through; the gate closes again behind them
            gate.let_through(set(waiting.values()))
            gate.close_on(run_id)
        time.sleep(0.002)
    raise AssertionError(f"the run never reached {point}: {trace}; now {gate.waiting()}")


def run_stopped_at(
    gate: Gate, conn, settings: EngineSettings, point: str, late: tuple[Platform, int]
) -> tuple[multiprocessing.Process, int, dict]:
    """Starts a run and stops it at `point`; when the run slips past it (it may get there before the gate
    closes, on a loaded machine), the run completes, new activity arrives and another run tries. The run's
    process, its id, and the published state it started from."""
    last_run = conn.execute("SELECT max(id) FROM pipeline_runs").fetchone()[0]
    for _attempt in range(ATTEMPTS):
        before = published_state(conn)
        process = start_run(settings, D)
        last_run = wait_for_run(conn, last_run)
        if stop_at(gate, conn, last_run, point, process) is not None:
            return process, last_run, before
        gate.open()
        process.join(60)
        add_late_activity(*late)
    raise AssertionError(f"{point} was never reached in {ATTEMPTS} runs")


def model_names(settings: EngineSettings, database_url: str) -> list[str]:
    """The models a day's run builds: every one but the deployed views (staging, payments), which it leaves
    out once they are as deployed (pipeline.deployed_group, pipeline.selector_for)."""
    manifest = pipeline.parsed_project(database_url, pipeline.dbt_vars(settings, D))
    return sorted(
        node.name
        for node in manifest.nodes.values()
        if node.resource_type == "model" and "source_contract" not in node.tags and pipeline.deployed_group(node) is None
    )


def test_a_run_killed_at_any_model_boundary_leaves_the_previous_state_whole(conn, database_url, settings):
    p, video = build_day(conn)
    assert [r.status for r in pipeline.run_days(settings, D)] == ["SUCCEEDED"]
    before = published_state(conn)
    assert before["consistency"] == [] and before["settled_days"]
    add_late_activity(p, video)
    points = [*model_names(settings, database_url), PUBLISH]
    gate = Gate(database_url)
    tried, slipped = defaultdict(list), defaultdict(int)
    last_run = conn.execute("SELECT max(id) FROM pipeline_runs").fetchone()[0]
    kinds = ("SIGKILL", "pg_terminate_backend")
    if os.environ.get("SETTLEMENT_KILL_MATRIX") == "full":
        kills = [(kill, point) for kill in kinds for point in points]
    else:
        kills = [(kinds[n % 2], point) for n, point in enumerate(points[:-1])] + [(kill, PUBLISH) for kill in kinds]
    try:
        for kill, point in kills:
            for _attempt in range(ATTEMPTS):  # a node may slip through while the gate lets another pass
                process = start_run(settings, D)
                last_run = wait_for_run(conn, last_run)
                pid = stop_at(gate, conn, last_run, point, process)
                if pid is not None:
                    break
                gate.open()
                process.join(60)
                slipped[point] += 1
                published_state(conn)  # the run completed: publish it again as the starting point
                before = published_state(conn)
                add_late_activity(p, video)
            assert pid is not None, f"{point} was never reached in {ATTEMPTS} runs"
            if kill == "SIGKILL":
                os.kill(process.pid, signal.SIGKILL)
            else:
                conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
            gate.open()
            process.join(60)
            assert not process.is_alive()
            after = published_state(conn)
            published = conn.execute("SELECT status = 'SUCCEEDED' FROM pipeline_runs WHERE id = %s", (last_run,)).fetchone()[0]
            if point == PUBLISH and published:
                # killed after its publish was sent: the server completed it, whole (the commit point)
                assert after["consistency"] == [] and after["settled_days"][-1][1] == last_run, kill
                before = after
                add_late_activity(p, video)
            else:
                assert after == before, (kill, point)
            tried[kill].append(point)
    finally:
        gate.finish()
    print(
        f"\nkill matrix: {len(points)} points, {sum(map(len, tried.values()))} kills; "
        f"published state unchanged and consistent after each; runs that slipped past their point: {dict(slipped)}"
    )
    assert sorted((kill, point) for kill, done in tried.items() for point in done) == sorted(kills)

    results = pipeline.run_days(settings, D)  # the next run takes over at once and completes the day
    assert [r.status for r in results] == ["SUCCEEDED"]
    after = published_state(conn)
    assert after["consistency"] == [] and after != before
    killed = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE error LIKE 'interrupted%%') FROM pipeline_runs WHERE status = 'FAILED'"
    ).fetchone()
    sigkilled = len(tried["SIGKILL"])
    assert killed[0] >= len(kills) - 1 and killed[1] >= sigkilled - 1  # the SIGKILLed ones: taken over
    assert conn.execute("SELECT count(*) FROM pipeline_runs WHERE status = 'RUNNING'").fetchone()[0] == 0


def test_a_reader_polling_during_a_run_sees_one_whole_state_and_no_error(conn, database_url, settings):
    p, video = build_day(conn)
    assert [r.status for r in pipeline.run_days(settings, D)] == ["SUCCEEDED"]
    before = published_state(conn)
    add_late_activity(p, video)
    seen, errors, done = [], [], threading.Event()

    def poll() -> None:
        with psycopg.connect(database_url, autocommit=True) as reader:
            while not done.is_set():
                try:
                    seen.append(json.dumps(published_state(reader), default=str))
                except psycopg.Error as exc:
                    errors.append(repr(exc))

    readers = [threading.Thread(target=poll) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        results = pipeline.run_days(settings, D)
    finally:
        done.set()
        for reader in readers:
            reader.join()
    after = published_state(conn)
    assert [r.status for r in results] == ["SUCCEEDED"] and after != before
    states = set(seen)
    assert errors == [] and len(seen) > 20
    others = [json.loads(state) for state in states - {json.dumps(before, default=str), json.dumps(after, default=str)}]
    assert others == [], [
        {name: (rows, before[name], after[name]) for name, rows in other.items() if rows not in (before[name], after[name])}
        for other in others
    ]


def test_a_run_that_lost_the_pipeline_cannot_publish(conn, database_url, settings):
    """The first run's session holding the pipeline ends while it builds (its lease is then free); a
    second run takes over. The first is FAILED, stops at its next model, and never publishes."""
    p, video = build_day(conn)
    assert [r.status for r in pipeline.run_days(settings, D)] == ["SUCCEEDED"]
    add_late_activity(p, video)
    gate = Gate(database_url)
    try:
        first, first_run, _ = run_stopped_at(gate, conn, settings, "int_pair_daily", (p, video))
        holder = conn.execute("SELECT holder_pid FROM pipeline_runs WHERE id = %s", (first_run,)).fetchone()[0]
        conn.execute("SELECT pg_terminate_backend(%s)", (holder,))  # the session that held the pipeline
        gate.open()
        second = pipeline.run_days(settings, D)
    finally:
        gate.finish()
        first.join(60)
    assert [r.status for r in second] == ["SUCCEEDED"]
    assert first.exitcode != 0
    status, error = conn.execute("SELECT status, error FROM pipeline_runs WHERE id = %s", (first_run,)).fetchone()
    assert status == "FAILED" and error.startswith("interrupted"), error
    assert conn.execute("SELECT run_id FROM settled_days WHERE day = %s", (D,)).fetchone()[0] == second[-1].run_id


def test_a_run_fenced_off_before_its_publish_publishes_nothing(conn, database_url, settings):
    """Taken over while it waits to publish: its publish finds the run no longer RUNNING and rolls back."""
    p, video = build_day(conn)
    assert [r.status for r in pipeline.run_days(settings, D)] == ["SUCCEEDED"]
    add_late_activity(p, video)
    gate = Gate(database_url)
    try:
        run, run_id, before = run_stopped_at(gate, conn, settings, PUBLISH, (p, video))
        # what a taking-over run does to it, done here under the gate
        gate.conn.execute(
            "UPDATE pipeline_runs SET status = 'FAILED', finished_at = now(), error = 'interrupted: taken over' WHERE id = %s",
            (run_id,),
        )
        gate.open()
        run.join(60)
    finally:
        gate.finish()
    assert run.exitcode != 0
    assert published_state(conn) == before
