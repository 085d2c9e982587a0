"""Synthetic platform data at scale: users, sellers, videos, ads with contracts, ad slots, and days of
watch sessions with their playback events and ad impressions.

Deterministic for a seed: the same seed and config on an empty database give identical rows, event ids
and timestamps included. On a database that already has data it appends: new users, videos and ads get
new ids, and the event ids differ from any earlier run's (the id ranges seed the event stream).

Events are generated vectorised with numpy, session by session in start-time order, and encoded straight
into PostgreSQL's binary COPY format; a producer process generates while this one streams COPY data to
the server, so both of the machine's cores work. Each day is one transaction.

The modules, one reason to change each:
- config: what a run is asked for (GenerateConfig) and what it reports (GenerateReport);
- catalog: users, sellers, videos, ads, their slots, and who watches what (popularity);
- rows: columns of numpy arrays (watch events, ad impressions) and the platform days they fall on;
- sessions: how honest viewers watch: sessions, progress reports, pauses, returns, ad impressions;
- attacks: a share of the day's events the quality gate must turn down, or that earns nothing;
- codec: PostgreSQL's binary COPY format, time-ordered event ids;
- producer: a day's chunks, generated in a child process while the parent loads;
- loader: the entry point, generate(): the catalog, then the days' chunks COPYed in.
"""

from settlement.generate.config import GenerateConfig, GenerateReport, default_first_day
from settlement.generate.loader import analyze_day_partitions, day_partitions, generate
from settlement.generate.producer import ProducerFailed

__all__ = [
    "GenerateConfig",
    "GenerateReport",
    "ProducerFailed",
    "analyze_day_partitions",
    "day_partitions",
    "default_first_day",
    "generate",
]
