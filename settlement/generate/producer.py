"""A day's events as chunks of COPY data, generated a few ahead in a child process while the parent
streams them to the server."""

import multiprocessing
import queue
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from settlement.generate.attacks import plan_attack
from settlement.generate.catalog import Catalog
from settlement.generate.codec import encode_ad_impressions, encode_watch_events
from settlement.generate.config import GenerateConfig
from settlement.generate.rows import AdImpressions, Day
from settlement.generate.sessions import History, day_events, plan_day, received_after

if TYPE_CHECKING:
    import multiprocessing.queues

QUEUE_CHUNKS = 4
INLINE_EVENTS = 300_000  # up to this many events in all, no producer process


@dataclass
class Chunk:
    """COPY data: a run of a day's watch events, or, closing the day, all its ad impressions; the data
    of their keys for the registry; and copies of some of those events sent again (attack traffic), in
    the watch events' columns, for duplicate_events."""

    day: Day
    data: bytes
    keys: bytes
    rows: int
    impressions: bool = False
    copies: bytes = b""
    copy_rows: int = 0


def produce_chunks(config: GenerateConfig, catalog: Catalog, days: list[Day]) -> Iterator[Chunk]:
    history = History()
    counters = {"events": 0, "impressions": 0}
    for day in days:
        rng = np.random.default_rng([config.seed, 1, catalog.event_salt, day.index])
        attack = plan_attack(config, catalog, day) if config.attack_share else None
        honest = config.events_on(day.index) - (attack.total if attack else 0)
        sessions = plan_day(rng, honest, catalog, history, day.seconds)
        history.remember(sessions)
        if attack:
            attack.choose_copies(honest + len(attack.events))
        impressions, first = [], counters["events"]
        for events, chunk_impressions, until_us in day_events(rng, sessions, catalog, day):
            received = received_after(rng, events.occurred_us)
            if attack:
                events, received = attack.merged_until(events, received, until_us)
            data, keys = encode_watch_events(events, received, counters["events"], catalog.event_salt)
            copies = (
                attack.copies_of(events, received, counters["events"] - first, counters["events"], catalog.event_salt)
                if attack
                else (b"", 0)
            )
            yield Chunk(day, data, keys, len(events), False, *copies)
            counters["events"] += len(events)
            impressions.append(chunk_impressions)
        day_impressions = AdImpressions.concat(impressions)
        day_impressions = day_impressions.take(np.argsort(day_impressions.occurred_us, kind="stable"))
        received = received_after(rng, day_impressions.occurred_us)
        if attack:
            day_impressions, received = attack.impressions_merged(day_impressions, received)
        data, keys = encode_ad_impressions(day_impressions, received, counters["impressions"], catalog.event_salt)
        counters["impressions"] += len(day_impressions)
        yield Chunk(day, data, keys, len(day_impressions), impressions=True)


def produce_into(
    handoff: "multiprocessing.queues.Queue[Chunk | ProducerFailed | None]",
    config: GenerateConfig,
    catalog: Catalog,
    days: list[Day],
) -> None:
    """The producer process: chunks into the queue, then None; or the error that stopped it."""
    try:
        for chunk in produce_chunks(config, catalog, days):
            handoff.put(chunk)
        handoff.put(None)
    except BaseException as exc:
        handoff.put(ProducerFailed(f"generating events failed: {exc!r}"))


class ProducerFailed(RuntimeError):
    pass


@contextmanager
def produced(config: GenerateConfig, catalog: Catalog, days: list[Day]) -> Iterator[Iterator[Chunk]]:
    """The chunks, generated a few ahead by a child process when there are many: a process, not a
    thread, so generating never holds up the COPY stream on the GIL and both cores work. Few are
    generated right here (starting a process would cost more than it saves)."""
    if config.total_events <= INLINE_EVENTS:
        yield produce_chunks(config, catalog, days)
        return
    # fork: the child starts at once and shares the catalog; it never touches the parent's connection
    # and leaves with os._exit. Elsewhere spawn (the caller's main module must then be import-safe).
    context = multiprocessing.get_context("fork") if sys.platform == "linux" else multiprocessing.get_context("spawn")
    handoff = context.Queue(maxsize=QUEUE_CHUNKS)
    producer = context.Process(target=produce_into, args=(handoff, config, catalog, days), daemon=True)
    producer.start()

    def chunks() -> Iterator[Chunk]:
        while True:
            try:
                item = handoff.get(timeout=1.0)
            except queue.Empty:
                if not producer.is_alive():
                    raise ProducerFailed(f"the event producer died (exit code {producer.exitcode})") from None
                continue
            if item is None:
                return
            if isinstance(item, ProducerFailed):
                raise item
            yield item

    try:
        yield chunks()
    finally:
        if producer.is_alive():
            producer.terminate()
        producer.join()
        handoff.close()
