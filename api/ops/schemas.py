import datetime as dt
from enum import StrEnum

from pydantic import BaseModel, Field

from api.schemas import Page


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class RunOut(BaseModel):
    id: int
    run_date: dt.date = Field(description="The platform day the run settled.")
    trigger: str = Field(description="manual, scheduler, ...")
    status: RunStatus
    started_at: dt.datetime
    finished_at: dt.datetime | None
    seconds: float | None = Field(description="Duration; null while running.")
    rows: int = Field(description="Rows written, all models together.")
    row_counts: dict[str, int] = Field(description="Rows written per model.")
    quarantined: dict[str, dict[str, int]] = Field(
        description="Events the quality gate did not count, per source (watch_events, ad_impressions) and reason."
    )
    error: str | None


class RunPage(Page[RunOut]):
    pass
