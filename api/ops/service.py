import datetime as dt

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from api.database import one_row
from api.ops.schemas import RunStatus

RUNS_WHERE = """(%(run_date)s::date IS NULL OR run_date = %(run_date)s)
    AND (%(status)s::text IS NULL OR status = %(status)s)"""


async def list_runs(
    conn: AsyncConnection[DictRow], run_date: dt.date | None, status: RunStatus | None, limit: int, offset: int
) -> tuple[list[DictRow], int]:
    """One page of pipeline runs, newest first, and how many match in all."""
    params = {"run_date": run_date, "status": status, "limit": limit, "offset": offset}
    page = await conn.execute(
        f"""
        SELECT id, run_date, trigger, status, started_at, finished_at,
               extract(epoch FROM finished_at - started_at)::float8 AS seconds,
               (SELECT coalesce(sum(value::bigint), 0) FROM jsonb_each_text(row_counts)) AS rows,
               row_counts, quarantined, error
        FROM pipeline_runs
        WHERE {RUNS_WHERE}
        ORDER BY started_at DESC, id DESC
        LIMIT %(limit)s OFFSET %(offset)s
        """,
        params,
    )
    total = await conn.execute(f"SELECT count(*) AS total FROM pipeline_runs WHERE {RUNS_WHERE}", params)
    return await page.fetchall(), (await one_row(total))["total"]
