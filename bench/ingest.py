"""Recording throughput: events per second and latency per request of the API's playback writes, one
event per request (the single endpoints) and in batches of 10, 100 and 500 (POST /playback/events),
from 1, 8 and 32 clients at once, against `settlement serve` with 1 and with 2 API processes; beside
the COPY floor (`settlement generate` loading a day) measured in the same run.

    .venv/bin/python bench/ingest.py [--workers 1,2] [--clients 1,8,32] [--batches 1,10,100,500]
                                     [--seconds 6] [--copy-events 1M] [--before DIR] [--database-url URL]

Each client is a viewer of its own (new viewers for every phase) playing one-hour videos with an ad
slot every 300 s: a START, then PROGRESS reports of 30 s played each, one second apart (so a phase's
events stay inside the API's accepted time window; the engine would turn most of them down as more
than could have played, which the API does not judge), an ad impression every ten reports, a START
again at the end of a video. Clients keep one HTTP/1.1 connection each and send their next request as
soon as the answer is in (closed loop); a phase runs --seconds. Every answer is checked (200, nothing
refused, no duplicate), and the rows recorded are counted against what was sent.

The client is this process: a small HTTP client on asyncio (uvloop) that writes each request's bytes and
reads the status line and Content-Length, so it costs little of the machine the server shares with
it; its CPU seconds are printed. --before DIR serves an older checkout of the code (e.g. `git archive
749ab61 | tar -x -C DIR`) with uvicorn on the same database, for the single endpoints only.

Uses (drops and recreates) the databases settlement_bench_ingest and settlement_bench_ingest_copy,
unless --database-url is given (the COPY floor then loads into that database too).
"""

import argparse
import asyncio
import datetime as dt
import os
import random
import resource
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import contextlib

from api.auth.service import access_token
from api.config import ApiSettings
from bench.run import load_average, machine, server_summary
from settlement import clock, db, migrations
from settlement import generate as generator
from settlement.commands.generate import count
from settlement.config import PROJECT_ROOT, EngineSettings
from tests.servers import free_port, wait_until_serving

BENCH_DATABASE = "settlement_bench_ingest"
COPY_DATABASE = "settlement_bench_ingest_copy"
JWT_SECRET = "bench-ingest-" + uuid.uuid4().hex
VIDEOS = 40
VIDEO_SECONDS = 3600
PLAYED = 30  # seconds played per PROGRESS report
VIEWERS_PER_PHASE = 32


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# ----------------------------------------------------------------------------------------------------
# The catalog and the viewers


def prepare(url: str, viewers: int) -> tuple[list[int], list[int]]:
    """(videos, viewers): one-hour videos live for a week with an ad in every slot, and viewer accounts."""
    today = clock.today(EngineSettings().time_zone)
    with psycopg.connect(url, autocommit=True) as conn:
        seller = conn.execute(
            "INSERT INTO users (email, username, password_hash, role) VALUES (%s, 'seller', 'x', 'SELLER') RETURNING id",
            (f"seller-{uuid.uuid4().hex[:8]}@example.com",),
        ).fetchone()[0]
        ad = conn.execute(
            """INSERT INTO ads (title, ad_url, duration_seconds, contract_start, contract_end, status)
               VALUES ('bench', 'https://ads.example.com/b', 15, %s, %s, 'ACTIVE') RETURNING id""",
            (today - dt.timedelta(days=30), today + dt.timedelta(days=30)),
        ).fetchone()[0]
        videos = [
            row[0]
            for row in conn.execute(
                """INSERT INTO videos (seller_id, title, video_url, duration_seconds, created_at)
               SELECT %s, 'bench', 'https://cdn.example.com/b.mp4', %s, settlement_now() - interval '7 days'
               FROM generate_series(1, %s) RETURNING id""",
                (seller, VIDEO_SECONDS, VIDEOS),
            ).fetchall()
        ]
        conn.execute(
            "INSERT INTO video_ads (video_id, ad_id, slot) SELECT v, %s, s FROM unnest(%s::bigint[]) AS v, generate_series(1, %s) AS s",
            (ad, videos, VIDEO_SECONDS // 300 - 1),
        )
        users = [
            row[0]
            for row in conn.execute(
                """INSERT INTO users (email, username, password_hash)
               SELECT 'viewer-' || gen_random_uuid() || '@example.com', 'viewer', 'x' FROM generate_series(1, %s)
               RETURNING id""",
                (viewers,),
            ).fetchall()
        ]
        migrations.ensure_day_partitions(
            conn, today - dt.timedelta(days=4), today + dt.timedelta(days=1), EngineSettings().time_zone
        )
    return videos, users


def time_ordered_id(at: dt.datetime) -> uuid.UUID:
    """A version-7 UUID (RFC 9562): the time in milliseconds first, then random bits."""
    value = (
        (int(at.timestamp() * 1000) << 80) | (0x7 << 76) | (random.getrandbits(12) << 64) | (0b10 << 62) | random.getrandbits(62)
    )
    return uuid.UUID(int=value)


def session_token(url: str, user_id: int) -> str:
    """An access token of a session recorded as the API's login records it (auth_sessions, migration 0051)."""
    settings = ApiSettings(_env_file=None, jwt_secret=JWT_SECRET)
    with psycopg.connect(url, autocommit=True) as conn:
        session_id = conn.execute(
            "INSERT INTO auth_sessions (user_id, expires_at) VALUES (%s, settlement_now() + make_interval(mins => %s))"
            " RETURNING id::text",
            (user_id, settings.jwt_ttl_minutes),
        ).fetchone()[0]
    return access_token(settings, JWT_SECRET, user_id, session_id)[0]


class Viewer:
    """One client's viewer: its token and its playing, event after event. Event ids are time-ordered
    (version 7, as the generator's; see the README for what random version-4 ids cost) unless random_ids."""

    random_ids = False

    def __init__(self, url: str, user_id: int, videos: list[int], start: dt.datetime, first_video: int):
        self.authorization = f"Bearer {session_token(url, user_id)}".encode()
        self.videos, self.video_index = videos, first_video
        self.start = start
        self.n = 0
        self.position = None  # None: the next event is a START

    def next_event(self) -> tuple[int, str, str, int | None]:
        """(video, kind, JSON fields after video_id and kind, position) of the next event."""
        at = self.start + dt.timedelta(seconds=self.n)
        occurred_at = at.isoformat()
        event_id = uuid.uuid4() if self.random_ids else time_ordered_id(at)
        self.n += 1
        video = self.videos[self.video_index % len(self.videos)]
        if self.position is None:
            self.position = 0
            return video, "START", f'"event_id":"{event_id}","occurred_at":"{occurred_at}"'
        self.position += PLAYED
        position = self.position
        if self.position >= VIDEO_SECONDS:
            self.position, self.video_index = None, self.video_index + 1
        return (
            video,
            "PROGRESS",
            (f'"event_id":"{event_id}","occurred_at":"{occurred_at}","position_seconds":{position},"watched_seconds":{PLAYED}'),
        )

    def request(self, batch: int) -> bytes:
        """The next request's bytes: one event to its single endpoint, or a batch of `batch`."""
        if batch == 1:
            video, kind, fields = self.next_event()
            path = f"/videos/{video}/playback/{kind.lower()}"
            body = "{" + fields + "}"
        else:
            path = "/playback/events"
            events = []
            for _ in range(batch):
                video, kind, fields = self.next_event()
                events.append(f'{{"video_id":{video},"kind":"{kind}",{fields}}}')
            body = '{"events":[' + ",".join(events) + "]}"
        payload = body.encode()
        return (
            (
                f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nAuthorization: "
            ).encode()
            + self.authorization
            + b"\r\n\r\n"
            + payload
        )


# ----------------------------------------------------------------------------------------------------
# The client


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> "Connection":
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


@dataclass
class Phase:
    label: str
    workers: int
    clients: int
    batch: int
    seconds: float = 0.0
    latencies: list = field(default_factory=list)
    events: int = 0
    load_before: str = ""
    load_after: str = ""
    client_cpu: float = 0.0
    api_cpu: float = 0.0  # the API processes' CPU seconds during the phase
    database_cpu: float = 0.0  # the PostgreSQL backends' (of the bench database)

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds

    def line(self) -> str:
        ms = [value * 1000 for value in self.latencies]
        return (
            f"{self.label:<8} {self.workers} proc {self.clients:>2} clients  batch {self.batch:>3}: "
            f"{self.events_per_second:>8,.0f} events/s {len(ms) / self.seconds:>6,.0f} req/s  p50 {statistics.median(ms):6.1f} ms"
            f"  p99 {percentile(ms, 0.99):6.1f} ms  max {max(ms):6.1f} ms;  CPU µs/event: API {self.per_event(self.api_cpu):.0f}, "
            f"PostgreSQL {self.per_event(self.database_cpu):.0f}, client {self.per_event(self.client_cpu):.0f}; "
            f"load {self.load_before} -> {self.load_after}"
        )

    def per_event(self, cpu_seconds: float) -> float:
        return cpu_seconds / self.events * 1e6


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu_seconds(pids) -> dict[int, float]:
    """User + system CPU seconds of each of these processes so far (none for one that is gone or not on
    this machine)."""
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two readings; a process started in between counts whole (a pool's new connection)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def process_tree(pid: int) -> list[int]:
    """pid and its descendants."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            todo += [int(child) for child in Path(f"/proc/{current}/task/{current}/children").read_text().split()]
    return found


def backends(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [
            row[0]
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ]


async def run_phase(port: int, viewers: list[Viewer], phase: Phase, seconds: float, server: int, url: str) -> None:
    connections = [await Connection.open(port) for _ in viewers]
    # one request each first, unmeasured: connections warm, statements prepared
    for connection, viewer in zip(connections, viewers):
        status, body = await connection.send(viewer.request(phase.batch))
        assert status == 200, body[:300]
    sent = [0] * len(viewers)
    deadline = time.perf_counter() + seconds

    async def client(n: int) -> None:
        connection, viewer = connections[n], viewers[n]
        while time.perf_counter() < deadline:
            request = viewer.request(phase.batch)
            began = time.perf_counter()
            status, body = await connection.send(request)
            phase.latencies.append(time.perf_counter() - began)
            if status != 200 or (b'"duplicates":0,"refused":0' if phase.batch > 1 else b'"duplicate":false') not in body:
                raise RuntimeError(f"{phase.label}: {status} {body[:300]!r}")
            sent[n] += phase.batch

    phase.load_before = load_average()
    api_cpu, database_cpu = process_cpu_seconds(process_tree(server)), process_cpu_seconds(backends(url))
    cpu, began = cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(len(viewers))))
    phase.seconds = time.perf_counter() - began
    phase.client_cpu = cpu_seconds() - cpu
    phase.api_cpu = cpu_spent(api_cpu, process_cpu_seconds(process_tree(server)))
    phase.database_cpu = cpu_spent(database_cpu, process_cpu_seconds(backends(url)))
    phase.load_after = load_average()
    phase.events = sum(sent)
    for connection in connections:
        connection.close()


def recorded(url: str, user_ids: list[int]) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM watch_events WHERE user_id = ANY(%s)", (user_ids,)).fetchone()[0]


# ----------------------------------------------------------------------------------------------------
# The servers


def start_server(url: str, workers: int, log: Path, before: Path | None = None) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "SETTLEMENT_JWT_SECRET": JWT_SECRET}
    if before is None:
        command = [sys.executable, "-m", "settlement.cli", "serve", "--port", str(port), "--workers", str(workers),
                   "--log-level", "warning"]  # fmt: skip
        cwd = PROJECT_ROOT
    else:  # the older checkout, as its `settlement serve` ran it: one process
        command = [sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory", "--port", str(port),
                   "--workers", str(workers), "--log-level", "warning"]  # fmt: skip
        cwd, env["PYTHONPATH"] = before, str(before)
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    wait_until_serving(process, f"http://127.0.0.1:{port}/healthz", log, timeout=90)
    return process, port


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def copy_floor(url: str, events: int) -> str:
    before = load_average()
    report = generator.generate(
        url,
        generator.GenerateConfig(videos=5_000, users=100_000, days=1, events_per_day=events, seed=23),
        progress=False,
        settings=EngineSettings(database_url=url),
    )
    return f"COPY floor (settlement generate, {events:,} events): {report.events_per_second:,.0f} events/s (load {before} -> {load_average()})"


def fresh(server: str, name: str) -> str:
    db.drop_database(server, name)
    db.create_database_if_missing(server, name)
    url = db.with_database(server, name)
    migrations.upgrade(url)
    return url


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="1,2", help="API processes, a run of the phases for each")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--batches", default="1,10,100,500", help="events per request; 1: the single endpoints")
    parser.add_argument("--seconds", type=float, default=6.0, help="per phase")
    parser.add_argument("--copy-events", type=count, default=1_000_000)
    parser.add_argument("--before", type=Path, help="an older checkout to measure the single endpoints of, for comparison")
    parser.add_argument("--random-ids", action="store_true", help="random version-4 event ids instead of time-ordered ones")
    parser.add_argument("--database-url")
    args = parser.parse_args(argv)
    Viewer.random_ids = args.random_ids
    workers = [int(n) for n in args.workers.split(",")]
    client_counts = [int(n) for n in args.clients.split(",")]
    batches = [int(n) for n in args.batches.split(",")]

    if args.database_url:
        url = copy_url = args.database_url
        migrations.upgrade(url)
    else:
        server, _ = db.server_url(EngineSettings())
        url, copy_url = fresh(server, BENCH_DATABASE), fresh(server, COPY_DATABASE)
    print(f"machine: {machine()}")
    print(f"server: {server_summary(url)}")
    print(copy_floor(copy_url, args.copy_events), flush=True)

    phases_per_run = len(client_counts) * len(batches)
    runs = [(n, None) for n in workers] + ([(1, args.before)] if args.before else [])
    videos, users = prepare(url, VIEWERS_PER_PHASE * phases_per_run * len(runs))
    start = clock.now() - dt.timedelta(hours=65)
    phases, next_user = [], 0
    log = Path("logs") / "bench_ingest_server.log"
    log.parent.mkdir(exist_ok=True)
    for process_count, before in runs:
        label = "before" if before else "now"
        process, port = start_server(url, process_count, log, before)
        try:
            for clients in client_counts:
                for batch in batches:
                    if before and batch != 1:
                        continue
                    phase = Phase(label, process_count, clients, batch)
                    ids = users[next_user : next_user + clients]
                    next_user += VIEWERS_PER_PHASE
                    viewers = [Viewer(url, user, videos, start, n * 7) for n, user in enumerate(ids)]
                    asyncio.run(run_phase(port, viewers, phase, args.seconds, process.pid, url))
                    stored = recorded(url, ids)
                    expected = phase.events + clients * batch  # and the unmeasured first request of each
                    assert stored == expected, f"{phase.label}: {stored} events stored, {expected} sent"
                    print(phase.line(), flush=True)
                    phases.append(phase)
        finally:
            stop_server(process)
    print(copy_floor(copy_url, args.copy_events))
    return 0


if __name__ == "__main__":
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    sys.exit(main())
