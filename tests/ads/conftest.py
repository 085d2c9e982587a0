import datetime as dt

import pytest


class AdWorld:
    """Builds small ad/video fixtures on a connection."""

    def __init__(self, conn):
        self.conn = conn
        self.seller_id = conn.execute(
            "INSERT INTO users (email, username, password_hash, role) VALUES ('s@example.com', 's', 'x', 'SELLER') RETURNING id"
        ).fetchone()[0]

    def video(self, duration_seconds: int = 3600, status: str = "ACTIVE") -> int:
        return self.conn.execute(
            """INSERT INTO videos (seller_id, title, video_url, duration_seconds, status)
               VALUES (%s, 'v', 'https://v.example/v', %s, %s) RETURNING id""",
            (self.seller_id, duration_seconds, status),
        ).fetchone()[0]

    def ad(self, start: dt.date = dt.date(2026, 1, 1), end: dt.date = dt.date(2026, 12, 31), status: str = "ACTIVE") -> int:
        return self.conn.execute(
            """INSERT INTO ads (title, ad_url, duration_seconds, contract_start, contract_end, status)
               VALUES ('ad', 'https://ad.example/a', 15, %s, %s, %s) RETURNING id""",
            (start, end, status),
        ).fetchone()[0]

    def assign(self, video_id: int, ad_id: int, slot: int) -> None:
        self.conn.execute("INSERT INTO video_ads (video_id, ad_id, slot) VALUES (%s, %s, %s)", (video_id, ad_id, slot))

    def status(self, ad_id: int) -> str:
        return self.conn.execute("SELECT status FROM ads WHERE id = %s", (ad_id,)).fetchone()[0]

    def load(self) -> dict[int, int]:
        """Slots held per ad (ads holding none omitted)."""
        return dict(self.conn.execute("SELECT ad_id, count(*) FROM video_ads GROUP BY ad_id").fetchall())

    def slots(self, video_id: int) -> dict[int, int]:
        return dict(self.conn.execute("SELECT slot, ad_id FROM video_ads WHERE video_id = %s", (video_id,)).fetchall())


@pytest.fixture
def world(conn) -> AdWorld:
    return AdWorld(conn)
