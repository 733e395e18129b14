"""What the Library page asks the ledger for: the filters in its query string, a page by cursor.

A page is a keyset on `(created_at, id)`, never an OFFSET: "older" is the jobs after the last
card, "newer" the jobs before the first, each read along the owner's index, so the page a
thousand pages deep costs what the first does (bench/studio_library.py measures it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlencode

from sorakit.errors import InvalidRequestError
from sorakit.ids import is_lookup_id
from sorakit.ledger import JobRecord, JobStatus, Ledger
from sorakit.providers.simulator.render import SPRITE_COLUMNS, SPRITE_TILES

PAGE_SIZE = 24
"""Cards a page shows (four rows of six, or six of four)."""
TEXT_MAX_LENGTH = 200
MODEL_MAX_LENGTH = 128
STATUSES = tuple(status.value for status in JobStatus)
SPRITE_GRID = {
    "columns": SPRITE_COLUMNS,
    "rows": -(-SPRITE_TILES // SPRITE_COLUMNS),
    "tiles": SPRITE_TILES,
}
"""The spritesheet's grid as the simulator draws it (tiles left to right, then down), for the
cards' data attributes: `static/library.js` scrubs by it, knowing no pixel size."""


def _date(value: str, param: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidRequestError(
            f"'{value[:40]}' is not a date; write it as 2026-12-31.", param=param
        ) from None


def _midnight(day: dt.date) -> float:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()


def utc_text(timestamp: float | None, *, seconds: bool = True) -> str:
    """A ledger time as people read it (UTC, as the date filters take it)."""
    if timestamp is None:
        return ""
    shape = "%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC"
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime(shape)


@dataclass(frozen=True)
class Filters:
    """The Library's filters as the form sends them; empty means any."""

    model: str = ""
    status: str = ""
    pipeline: str = ""
    date_from: str = ""
    date_to: str = ""
    q: str = ""

    @classmethod
    def parse(cls, **given: str | None) -> Filters:
        """Checked filters, or `InvalidRequestError` saying which one is wrong and how."""
        values = {name: (value or "").strip() for name, value in given.items()}
        filters = cls(**values)
        if filters.status and filters.status not in STATUSES:
            raise InvalidRequestError(
                f"'{filters.status[:40]}' is not a status.", param="status", allowed=list(STATUSES)
            )
        if len(filters.model) > MODEL_MAX_LENGTH:
            raise InvalidRequestError("That model name is too long.", param="model")
        if filters.pipeline and not is_lookup_id(filters.pipeline):
            raise InvalidRequestError("That is not a pipeline id.", param="pipeline")
        if len(filters.q) > TEXT_MAX_LENGTH:
            raise InvalidRequestError(
                f"Search for at most {TEXT_MAX_LENGTH} characters of a prompt.", param="q"
            )
        start, end = _date(filters.date_from, "date_from"), _date(filters.date_to, "date_to")
        if start and end and start > end:
            raise InvalidRequestError(
                f"The dates are the wrong way round: {start} is after {end}.", param="date_from"
            )
        return filters

    @property
    def active(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def url(self, **cursor: str) -> str:
        """`/library` with these filters (and a cursor), for links and `hx-push-url`."""
        given = {f.name: getattr(self, f.name) for f in fields(self)} | cursor
        query = urlencode({name: value for name, value in given.items() if value})
        return f"/library?{query}" if query else "/library"

    def ledger_args(self) -> dict[str, Any]:
        """The filters as `Ledger.list_jobs` takes them (the end date is inclusive)."""
        start, end = _date(self.date_from, "date_from"), _date(self.date_to, "date_to")
        return {
            "models": [self.model] if self.model else None,
            "statuses": [self.status] if self.status else None,
            "pipeline_id": self.pipeline or None,
            "created_from": _midnight(start) if start else None,
            "created_before": _midnight(end + dt.timedelta(days=1)) if end else None,
            "text": self.q or None,
            "exclude_kinds": ("image",),  # the library shows videos
        }


@dataclass(frozen=True)
class Card:
    """A job as the gallery shows it."""

    job: JobRecord
    created: str
    cost: str
    frame_style: str
    """The clip's shape inside the card's 16:9 box, so the card keeps it before images load."""
    has_thumbnail: bool
    has_spritesheet: bool

    @classmethod
    def of(cls, job: JobRecord) -> Card:
        width, _, height = job.size.partition("x")
        if not (width.isdigit() and height.isdigit() and int(width) and int(height)):
            width, height = "16", "9"
        wide = int(width) * 9 >= int(height) * 16  # fills the box's width, else its height
        frame_style = f"aspect-ratio: {width} / {height}; {'width' if wide else 'height'}: 100%"
        return cls(
            job,
            utc_text(job.created_at, seconds=False),
            cost_text(job),
            frame_style,
            "thumbnail" in job.assets,
            "spritesheet" in job.assets,
        )


def cost_text(job: JobRecord) -> str:
    """The charge when known, else the estimate, saying which."""
    if job.cost is not None:
        return f"${job.cost:.2f}"
    if job.estimated_cost is not None:
        return f"~${job.estimated_cost:.2f}"
    return "price unknown" if job.cost_unknown else ""


@dataclass(frozen=True)
class Page:
    """One page of the gallery and the links to its neighbours."""

    cards: list[Card]
    newer: str | None
    older: str | None


async def fetch_page(
    ledger: Ledger,
    filters: Filters,
    *,
    owner: str | None,
    after: str | None = None,
    before: str | None = None,
) -> Page:
    """The page older than `after`, newer than `before`, or the newest; a cursor from another
    tenant's job (or none at all) is `NotFoundError`, as in `GET /v1/videos`."""
    args = filters.ledger_args()
    if before:
        jobs, more = await ledger.list_jobs(
            after=before, limit=PAGE_SIZE, order="asc", owner=owner, **args
        )
        jobs.reverse()
        if more:
            return _page(jobs, filters, newer=True, older=True)
        after = None  # the newest page is reached: show it whole, as the first visit did
    jobs, more = await ledger.list_jobs(after=after, limit=PAGE_SIZE, owner=owner, **args)
    return _page(jobs, filters, newer=after is not None, older=more)


def _page(jobs: list[JobRecord], filters: Filters, *, newer: bool, older: bool) -> Page:
    cards = [Card.of(job) for job in jobs]
    return Page(
        cards,
        filters.url(before=jobs[0].id) if newer and jobs else None,
        filters.url(after=jobs[-1].id) if older and jobs else None,
    )
