"""A small hand-built platform and an independent reference implementation of SPEC.md's rules,
to check the engine's results against values computed here, not by the engine.

The reference reads SPEC.md only: it takes every event as it was sent (copies included, in arrival
order) and walks each (user, video) pair's whole history one event after the other, the way the rules
are written ("What counts", "What does not count"), with none of the engine's shortcuts.
"""

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from settlement import clock

# SPEC.md's price tiers, written out again on purpose: the reference must not read the engine's seed.
VIDEO_TIERS = [(0, Decimal("1.0")), (100_000, Decimal("1.1")), (500_000, Decimal("1.3")), (1_000_000, Decimal("1.5"))]
AD_TIERS = [(0, Decimal("10")), (100_000, Decimal("12")), (500_000, Decimal("15")), (1_000_000, Decimal("20"))]
SEOUL = ZoneInfo("Asia/Seoul")
WINDOW = dt.timedelta(hours=48)
SLACK = dt.timedelta(seconds=10)  # CommonSettings.watched_slack_seconds
CLOCK_SKEW = dt.timedelta(seconds=300)  # CommonSettings.clock_skew_seconds
SLOT_SECONDS = 300  # slot k plays at k * 300 s
LONG_AGO = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # when the scenario's videos went live, unless told


def at(day: dt.date, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    """A platform-local (Seoul) time on a day."""
    return dt.datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=SEOUL)


@dataclass
class Event:
    event_id: uuid.UUID
    kind: str
    user_id: int
    video_id: int
    occurred_at: dt.datetime
    position: int
    watched: int
    received_at: dt.datetime


@dataclass
class Impression:
    event_id: uuid.UUID
    user_id: int
    video_id: int
    ad_id: int
    slot: int
    occurred_at: dt.datetime
    received_at: dt.datetime


@dataclass
class Video:
    seller_id: int
    duration: int
    live: list  # [(live_from, live_until or None)]


@dataclass
class Platform:
    """Writes the scenario through the platform's own recording functions (as the API does) and keeps
    what was sent, in the order it was sent, for the reference."""

    conn: object
    events: list = field(default_factory=list)  # every watch event sent, copies included
    impressions: list = field(default_factory=list)  # every ad impression sent, copies included
    videos: dict = field(default_factory=dict)  # video_id -> Video
    ads: dict = field(default_factory=dict)  # ad_id -> (contract_start, contract_end)

    def user(self, name: str, role: str = "USER") -> int:
        return self.conn.execute(
            "INSERT INTO users (email, username, password_hash, role) VALUES (%s, %s, 'x', %s) RETURNING id",
            (f"{name}@example.com", name, role),
        ).fetchone()[0]

    def video(self, seller_id: int, duration_seconds: int, created_at: dt.datetime = LONG_AGO) -> int:
        video_id = self.conn.execute(
            """INSERT INTO videos (seller_id, title, video_url, duration_seconds, created_at)
               VALUES (%s, 'v', 'https://example.com/v', %s, %s) RETURNING id""",
            (seller_id, duration_seconds, created_at),
        ).fetchone()[0]
        self.videos[video_id] = Video(seller_id, duration_seconds, [(created_at, None)])
        return video_id

    def take_down(self, video_id: int) -> dt.datetime:
        """Takes the video down now (its status leaves ACTIVE); returns when, as the platform recorded it."""
        taken_down_at = self.conn.execute(
            "UPDATE videos SET status = 'INACTIVE' WHERE id = %s RETURNING settlement_now()", (video_id,)
        ).fetchone()[0]
        live = self.videos[video_id].live
        live[-1] = (live[-1][0], max(taken_down_at, live[-1][0]))
        return taken_down_at

    def ad(self, contract_start: dt.date, contract_end: dt.date) -> int:
        ad_id = self.conn.execute(
            """INSERT INTO ads (title, ad_url, duration_seconds, contract_start, contract_end, status)
               VALUES ('ad', 'https://example.com/ad', 15, %s, %s, 'ACTIVE') RETURNING id""",
            (contract_start, contract_end),
        ).fetchone()[0]
        self.ads[ad_id] = (contract_start, contract_end)
        return ad_id

    def event(
        self,
        kind: str,
        user_id: int,
        video_id: int,
        occurred_at: dt.datetime,
        watched_seconds: int = 0,
        position_seconds: int = 0,
        event_id: uuid.UUID | None = None,
        received_at: dt.datetime | None = None,
    ) -> uuid.UUID:
        event = Event(
            event_id or uuid.uuid4(),
            kind,
            user_id,
            video_id,
            occurred_at,
            position_seconds,
            watched_seconds,
            received_at or clock.now(),
        )
        self.conn.execute(
            "SELECT record_watch_event(%s, %s, %s, %s, %s, %s, %s, %s)",
            (event.event_id, kind, user_id, video_id, occurred_at, position_seconds, watched_seconds, event.received_at),
        )
        self.events.append(event)
        return event.event_id

    def impression(
        self,
        user_id: int,
        video_id: int,
        ad_id: int,
        slot: int,
        occurred_at: dt.datetime,
        times: int = 1,
        event_id: uuid.UUID | None = None,
    ) -> None:
        for _ in range(times):
            impression = Impression(event_id or uuid.uuid4(), user_id, video_id, ad_id, slot, occurred_at, clock.now())
            self.conn.execute(
                "SELECT record_ad_impression(%s, %s, %s, %s, %s, %s, %s)",
                (impression.event_id, user_id, video_id, ad_id, slot, occurred_at, impression.received_at),
            )
            self.impressions.append(impression)

    def bulk_starts(self, video_id: int, day: dt.date, count: int) -> None:
        """`count` views of a video by `count` fresh users on a day, loaded set-based (ids registered)."""
        user_ids = [
            row[0]
            for row in self.conn.execute(
                """INSERT INTO users (email, username, password_hash)
                   SELECT 'bulk-' || gen_random_uuid() || '@example.com', 'bulk', 'x'
                   FROM generate_series(1, %s) AS n
                   RETURNING id""",
                (count,),
            ).fetchall()
        ]
        start, received_at = at(day, 3), clock.now()
        rows = self.conn.execute(
            """WITH registered AS (
                   INSERT INTO watch_event_ids (event_id, user_id)
                   SELECT gen_random_uuid(), u FROM unnest(%s::bigint[]) AS u
                   RETURNING event_id, user_id
               )
               INSERT INTO watch_events (event_id, kind, user_id, video_id, occurred_at, watched_seconds, received_at)
               SELECT event_id, 'START', user_id, %s, %s, 0, %s FROM registered
               RETURNING event_id, user_id""",
            (user_ids, video_id, start, received_at),
        ).fetchall()
        self.events.extend(Event(event_id, "START", user_id, video_id, start, 0, 0, received_at) for event_id, user_id in rows)


# ---------------------------------------------------------------------------------------------------
# The reference: SPEC.md's rules, event by event.


def platform_day(instant: dt.datetime) -> dt.date:
    return instant.astimezone(SEOUL).date()


def ad_slot_count(duration_seconds: int) -> int:
    """SPEC: floor((L/60 - 1)/5) slots when L/60 > 5, else none."""
    minutes = Fraction(duration_seconds, 60)
    return int((minutes - 1) // 5) if minutes > 5 else 0


def is_live(video: Video, instant: dt.datetime) -> bool:
    return any(start <= instant and (until is None or instant < until) for start, until in video.live)


def first_arrivals(sent: list) -> tuple[list, list]:
    """(the events recorded, the copies): an event whose (user_id, event_id) arrived before is a copy."""
    seen, recorded, copies = set(), [], []
    for event in sent:
        key = (event.user_id, event.event_id)
        (copies if key in seen else recorded).append(event)
        seen.add(key)
    return recorded, copies


def own_reason(p: Platform, event) -> str | None:
    """What an event (watch event or ad impression) breaks on its own, whatever else happened: SPEC's
    rules in the order SPEC lists them (the sequence rule, the watch credit, comes after these)."""
    video = p.videos.get(event.video_id)
    if video is None:
        return "unknown_video"
    if not is_live(video, event.occurred_at):
        return "video_not_live"
    if event.occurred_at > event.received_at + CLOCK_SKEW:
        return "future_timestamp"
    if isinstance(event, Event) and not (0 <= event.watched <= video.duration and 0 <= event.position <= video.duration):
        return "implausible_watch"  # no client could honestly send it
    if event.user_id == video.seller_id:
        return "self_view"
    return None


@dataclass
class Verdicts:
    counted: list = field(default_factory=list)  # (event, is_view)
    quarantined: list = field(default_factory=list)  # (source, event, reason)


def judge_watch_events(p: Platform) -> Verdicts:
    """Each pair's whole history in time order, with its watch credit (SPEC, implausible_watch): the slack
    when the pair has no counted event within the window before the event; else what the previous counted
    event left unused (never more than the slack) plus the time elapsed since it. An event counts when it
    breaks no rule on its own and claims no more seconds watched than its credit; a counted event spends
    its seconds from it, a turned-down one spends nothing and refreshes nothing. A counted START with no
    counted event in the window before it is a view."""
    verdicts = Verdicts()
    recorded, copies = first_arrivals(p.events)
    verdicts.quarantined += [("watch_events", copy, "duplicate_event") for copy in copies]
    by_pair = defaultdict(list)
    for event in recorded:
        by_pair[(event.user_id, event.video_id)].append(event)
    for events in by_pair.values():
        last_counted, unused = None, SLACK
        for event in sorted(events, key=lambda e: (e.occurred_at, e.event_id)):
            reason = own_reason(p, event)
            in_window = last_counted is not None and last_counted > event.occurred_at - WINDOW
            credit = min(unused, SLACK) + (event.occurred_at - last_counted) if in_window else SLACK
            if reason is None and dt.timedelta(seconds=event.watched) > credit:
                reason = "implausible_watch"
            if reason is not None:
                verdicts.quarantined.append(("watch_events", event, reason))
                continue
            verdicts.counted.append((event, event.kind == "START" and not in_window))
            last_counted, unused = event.occurred_at, credit - dt.timedelta(seconds=event.watched)
    return verdicts


def judge_ad_impressions(p: Platform, counted_watch_events: list) -> Verdicts:
    """An impression of slot k counts when a counted watch event of the same viewer and video, at its
    time (within the slack), played across k * 300 s; one per (viewer, video, slot) and day."""
    verdicts = Verdicts()
    recorded, copies = first_arrivals(p.impressions)
    verdicts.quarantined += [("ad_impressions", copy, "duplicate_event") for copy in copies]
    crossings = defaultdict(list)
    for event, _ in counted_watch_events:
        crossings[(event.user_id, event.video_id)].append(event)
    already = set()
    for impression in sorted(recorded, key=lambda i: (i.occurred_at, i.event_id)):
        day = platform_day(impression.occurred_at)
        reason = own_reason(p, impression)
        if reason is None:
            if impression.ad_id not in p.ads:
                reason = "unknown_ad"
            elif not p.ads[impression.ad_id][0] <= day < p.ads[impression.ad_id][1]:
                reason = "ad_not_active"  # SPEC: an expired ad stops earning from its end date on
            elif not 1 <= impression.slot <= ad_slot_count(p.videos[impression.video_id].duration):
                reason = "unknown_slot"
            elif not any(
                abs(event.occurred_at - impression.occurred_at) <= SLACK
                and event.position - event.watched < impression.slot * SLOT_SECONDS <= event.position
                for event in crossings[(impression.user_id, impression.video_id)]
            ):
                reason = "slot_not_played"
            elif (impression.user_id, impression.video_id, impression.slot, day) in already:
                reason = "repeat_ad_view"
        if reason is None:
            already.add((impression.user_id, impression.video_id, impression.slot, day))
            verdicts.counted.append((impression, False))
        else:
            verdicts.quarantined.append(("ad_impressions", impression, reason))
    return verdicts


def graduated(views_before: int, views: int, tiers) -> Decimal:
    """Price position by position (slow on purpose: an independent check of the tier arithmetic)."""
    bounds = [lower for lower, _ in tiers]
    total = Decimal(0)
    for position in range(views_before, views_before + views):
        tier = max(index for index, lower in enumerate(bounds) if lower <= position)
        total += tiers[tier][1]
    return total


def reference_settlement(p: Platform, days: list[dt.date]) -> tuple[dict, dict]:
    """(day, video) -> expected fct_video_daily row; (day, video, ad) -> expected fct_video_ad_daily row."""
    watch = judge_watch_events(p)
    views, watched = defaultdict(int), defaultdict(int)
    for event, is_view in watch.counted:
        key = (platform_day(event.occurred_at), event.video_id)
        views[key] += is_view
        watched[key] += event.watched
    ad_views = defaultdict(int)
    for impression, _ in judge_ad_impressions(p, watch.counted).counted:
        ad_views[(platform_day(impression.occurred_at), impression.video_id, impression.ad_id)] += 1

    pairs = {
        (day, video_id, ad_id): {"ad_views": count, "ad_payout": int(graduated(0, count, AD_TIERS))}
        for (day, video_id, ad_id), count in ad_views.items()
        if day in days
    }
    videos, lifetime = {}, defaultdict(int)
    for day in sorted(days):
        active = {video for (d, video) in views if d == day} | {video for (d, video) in watched if d == day}
        active |= {video for (d, video, _) in pairs if d == day}
        for video_id in sorted(active):
            before, today = lifetime[video_id], views.get((day, video_id), 0)
            video_payout = int(graduated(before, today, VIDEO_TIERS))
            ad_rows = [row for (d, vid, _), row in pairs.items() if d == day and vid == video_id]
            ad_payout = sum(row["ad_payout"] for row in ad_rows)
            videos[(day, video_id)] = {
                "seller_id": p.videos[video_id].seller_id,
                "views": today,
                "watch_seconds": watched.get((day, video_id), 0),
                "cumulative_views_before": before,
                "cumulative_views_through": before + today,
                "ad_views": sum(row["ad_views"] for row in ad_rows),
                "video_payout": video_payout,
                "ad_payout": ad_payout,
                "payout": video_payout + ad_payout,
            }
        for video_id in active:
            lifetime[video_id] += views.get((day, video_id), 0)
    return videos, pairs


def reference_intake(p: Platform, day: dt.date) -> dict[str, tuple[int, int, dict[str, int]]]:
    """source -> (events in, counted, quarantined per reason) for a day: every event sent that claims
    the day, copies included."""
    watch = judge_watch_events(p)
    ads = judge_ad_impressions(p, watch.counted)
    intake = {}
    for source, sent, verdicts in (("watch_events", p.events, watch), ("ad_impressions", p.impressions, ads)):
        reasons = defaultdict(int)
        for _, event, reason in verdicts.quarantined:
            if platform_day(event.occurred_at) == day:
                reasons[reason] += 1
        counted = sum(platform_day(event.occurred_at) == day for event, _ in verdicts.counted)
        ingested = sum(platform_day(event.occurred_at) == day for event in sent)
        intake[source] = (ingested, counted, dict(reasons))
    return intake


# ----------------------------------------------------------------------------------------------------
# Payments (SPEC.md "Payments"), written again from the spec, one event at a time: days are closed with
# what they paid and the adjustments booked on them, months are issued, payment runs pay, the bank
# returns transfers. Nothing here reads the engine's seeds, views or tables.

INCOME_TAX_RATE = Fraction(3, 100)  # SPEC: 3 % income tax ...
LOCAL_INCOME_TAX_RATE = Fraction(3, 1000)  # ... and 0.3 % local income tax, for individual sellers
TAX_UNIT = 10  # each truncated to 10 KRW
PAYMENT_THRESHOLD = 100_000  # KRW


def withheld(gross: int, rate: Fraction) -> int:
    """A tax on a month's gross: truncated (never rounded) to TAX_UNIT; nothing on a gross of zero or less."""
    if gross <= 0:
        return 0
    return int(gross * rate / TAX_UNIT) * TAX_UNIT  # int() of a positive Fraction truncates


@dataclass
class RefStatement:
    seller_id: int
    number: int
    month: dt.date
    carried_in: int
    returned_in: int
    payouts: int
    adjustments: int
    gross: int
    income_tax: int
    local_income_tax: int
    withholding: int
    net: int
    payable: bool
    amount_payable: int
    carried_out: int
    reasons: frozenset  # of "hold", "no_account", "returned_account", "threshold"


@dataclass
class PaymentsReference:
    """Every won of the closed days, from statement to transfer, as SPEC.md says."""

    closed: dict = field(default_factory=dict)  # day -> {seller: payouts of the day}
    booked: dict = field(default_factory=dict)  # day -> {seller: adjustments booked on the day}
    stated_days: set = field(default_factory=set)
    issued_months: list = field(default_factory=list)
    statements: dict = field(default_factory=lambda: defaultdict(list))  # seller -> [RefStatement]
    business: set = field(default_factory=set)  # sellers registered as businesses
    accounts: dict = field(default_factory=dict)  # seller -> the account version in force
    returned_accounts: set = field(default_factory=set)  # account versions the bank returned a transfer to
    holds: set = field(default_factory=set)
    paid: dict = field(default_factory=dict)  # (seller, number) -> (amount, account version)
    returned: set = field(default_factory=set)  # (seller, number)
    pending_returns: dict = field(default_factory=lambda: defaultdict(int))  # seller -> returned, not on a statement
    _versions: int = 0

    def close_day(self, day: dt.date, payouts: dict[int, int], adjustments: dict[int, int]) -> None:
        self.closed[day] = dict(payouts)
        self.booked[day] = dict(adjustments)

    def register_account(self, seller: int) -> None:
        self._versions += 1
        self.accounts[seller] = self._versions

    def can_be_paid(self, seller: int) -> frozenset:
        """Why a seller cannot be paid now (empty: they can)."""
        reasons = set()
        if seller in self.holds:
            reasons.add("hold")
        if seller not in self.accounts:
            reasons.add("no_account")
        elif self.accounts[seller] in self.returned_accounts:
            reasons.add("returned_account")
        return frozenset(reasons)

    def issue(self, month: dt.date) -> list[RefStatement]:
        """The month's statements: every closed day up to the month's end not on an earlier statement."""
        end = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        days = {day for day in self.closed if day <= end and day not in self.stated_days}
        payouts, adjustments = defaultdict(int), defaultdict(int)
        for day in days:
            for seller, amount in self.closed[day].items():
                payouts[seller] += amount
            for seller, amount in self.booked[day].items():
                adjustments[seller] += amount
        sellers = set(payouts) | set(adjustments) | {s for s, amount in self.pending_returns.items() if amount}
        sellers |= {s for s, issued in self.statements.items() if issued and issued[-1].carried_out != 0}
        issued = []
        for seller in sorted(sellers):
            previous = self.statements[seller][-1] if self.statements[seller] else None
            gross = payouts[seller] + adjustments[seller]
            individual = seller not in self.business
            income_tax = withheld(gross, INCOME_TAX_RATE) if individual else 0
            local_tax = withheld(gross, LOCAL_INCOME_TAX_RATE) if individual else 0
            carried_in = previous.carried_out if previous else 0
            returned_in = self.pending_returns.pop(seller, 0)
            net = carried_in + returned_in + gross - income_tax - local_tax
            reasons = set(self.can_be_paid(seller))
            if net < PAYMENT_THRESHOLD:
                reasons.add("threshold")
            payable = not reasons
            statement = RefStatement(
                seller,
                len(self.statements[seller]) + 1,
                month,
                carried_in,
                returned_in,
                payouts[seller],
                adjustments[seller],
                gross,
                income_tax,
                local_tax,
                income_tax + local_tax,
                net,
                payable,
                net if payable else 0,
                0 if payable else net,
                frozenset(reasons),
            )
            self.statements[seller].append(statement)
            issued.append(statement)
        self.stated_days |= days
        self.issued_months.append(month)
        return issued

    def pay(self, month: dt.date) -> dict[tuple[int, int], int]:
        """A payment run: every payable statement of the month or before, not paid yet, whose seller can
        be paid now; (seller, number) -> amount."""
        transfers = {}
        for seller, statements in self.statements.items():
            for statement in statements:
                key = (seller, statement.number)
                if statement.payable and statement.month <= month and key not in self.paid and not self.can_be_paid(seller):
                    self.paid[key] = (statement.amount_payable, self.accounts[seller])
                    transfers[key] = statement.amount_payable
        return transfers

    def return_transfer(self, seller: int, number: int) -> None:
        amount, account = self.paid[(seller, number)]
        assert (seller, number) not in self.returned
        self.returned.add((seller, number))
        self.returned_accounts.add(account)
        self.pending_returns[seller] += amount

    def totals(self) -> dict[str, int]:
        """Where every won of the closed days is: paid (returns excluded), withheld, in a balance (carried
        over or returned), awaiting a payment run, or on no statement yet."""
        paid = sum(amount for key, (amount, _) in self.paid.items() if key not in self.returned)
        statements = [statement for issued in self.statements.values() for statement in issued]
        awaiting = sum(s.amount_payable for s in statements if s.payable and (s.seller_id, s.number) not in self.paid)
        carried = sum(issued[-1].carried_out for issued in self.statements.values() if issued)
        unstated = sum(
            sum(self.closed[day].values()) + sum(self.booked[day].values()) for day in self.closed if day not in self.stated_days
        )
        return {
            "closed": sum(sum(p.values()) for p in self.closed.values()) + sum(sum(a.values()) for a in self.booked.values()),
            "paid": paid,
            "withheld": sum(s.withholding for s in statements),
            "balance": carried + sum(self.pending_returns.values()),
            "awaiting": awaiting,
            "unstated": unstated,
        }
