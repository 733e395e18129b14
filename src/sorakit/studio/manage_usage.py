"""Admin · Usage: jobs and spend per key and UTC day, as charts and as numbers, over a date range.

It reads the ledger as `GET /admin/usage` and `sorakit usage` do (`Ledger.usage` since the
range's first day, `Ledger.request_counts` for the requests), then keeps the days up to its last.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from sorakit.errors import InvalidRequestError
from sorakit.ledger.pipelines import UsageRow
from sorakit.ledger.records import amount_text
from sorakit.studio.manage_chart import Chart, colors, stacked_bars
from sorakit.studio.manage_common import SECTIONS, refusal
from sorakit.studio.render import Studio, StudioDep

router = APIRouter()

DEFAULT_DAYS = 30
"""The range when none is given, as `GET /admin/usage` defaults."""
MAX_DAYS = 3660
"""The longest range, as `GET /admin/usage` allows."""
NO_KEY = "(no key)"
"""Jobs made while the gateway ran open, or by the library and CLI."""


@dataclass(frozen=True)
class DateRange:
    """Whole UTC days, first and last included."""

    start: dt.date
    end: dt.date

    @property
    def since(self) -> float:
        return float(calendar.timegm(self.start.timetuple()))

    @property
    def days(self) -> list[str]:
        count = (self.end - self.start).days + 1
        return [(self.start + dt.timedelta(days=n)).isoformat() for n in range(count)]

    @classmethod
    def parse(cls, start: str | None, end: str | None) -> DateRange:
        """The range a filter asks for; a date that is not one, or a range backwards, is the
        admin's to correct."""
        last = _date(end, "end") or dt.datetime.now(dt.UTC).date()
        try:
            first = _date(start, "start") or last - dt.timedelta(days=DEFAULT_DAYS - 1)
        except OverflowError:  # the calendar's first days
            first = dt.date.min
        if first > last:
            raise InvalidRequestError(
                f"The range starts ({first}) after it ends ({last}); pick a start on or before "
                "the end.",
                param="start",
            )
        if (last - first).days >= MAX_DAYS:
            raise InvalidRequestError(f"A range may span at most {MAX_DAYS:,} days.", param="start")
        return cls(first, last)


def _date(text: str | None, name: str) -> dt.date | None:
    if not text or not text.strip():
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidRequestError(
            f"The {name} date {text.strip()!r} is not a date; write it as YYYY-MM-DD.",
            param=name,
        ) from None


@dataclass(frozen=True)
class UsageLine:
    """One row of the numbers table: a key's jobs and money on one model and day."""

    day: str
    key: str
    model: str
    jobs: int
    spent: str
    reserved: float


def _charts(rows: list[UsageRow], days: list[str], names: dict[str, str]) -> list[Chart]:
    spend: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    jobs: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        who = _who(row.owner, names)
        spend[who][row.day] += row.committed + row.reserved
        jobs[who][row.day] += row.jobs
    palette = colors(sorted(jobs))
    ordered = {name: spend[name] for name in sorted(jobs)}
    return [
        stacked_bars(
            "Spend per day (USD, spent and reserved)",
            days,
            ordered,
            palette,
            lambda usd: f"${usd:.2f}",
        ),
        stacked_bars(
            "Jobs per day",
            days,
            {name: jobs[name] for name in sorted(jobs)},
            palette,
            lambda count: f"{count:g} job{'s' * (count != 1)}",
        ),
    ]


def _who(owner: str | None, names: dict[str, str]) -> str:
    if owner is None:
        return NO_KEY
    return f"{names[owner]} ({owner})" if owner in names else owner


async def _usage(studio: Studio, span: DateRange) -> dict[str, Any]:
    ledger = studio.engine.ledger
    names = {key.id: key.name for key in await ledger.list_keys(include_revoked=True)}
    last = span.end.isoformat()
    rows = [row for row in await ledger.usage(since=span.since) if row.day <= last]
    requests = await ledger.request_counts(span.since)  # from the first day to now
    lines = [
        UsageLine(
            row.day,
            _who(row.owner, names),
            row.model,
            row.jobs,
            amount_text(row.committed, row.unpriced_jobs),
            row.reserved,
        )
        for row in reversed(rows)  # newest day first, as a person reads a table
    ]
    return {
        "start": span.start.isoformat(),
        "end": last,
        "charts": _charts(rows, span.days, names),
        "lines": lines,
        "total_jobs": sum(row.jobs for row in rows),
        "total_spent": amount_text(
            sum(row.committed for row in rows), sum(row.unpriced_jobs for row in rows)
        ),
        "requests": [
            {**r, "key": _who(r["key_id"], names) if r["key_id"] else NO_KEY} for r in requests
        ],
    }


@router.get("/manage/usage")
async def usage_page(
    studio: StudioDep, start: str | None = None, end: str | None = None
) -> Response:
    """The charts and numbers; htmx gets just them, for the range it asks."""
    if (refused_now := refusal(studio)) is not None:
        return refused_now
    fragment = studio.is_htmx and not studio.request.headers.get("hx-history-restore-request")
    try:
        span, error = DateRange.parse(start, end), None
    except InvalidRequestError as exc:
        if fragment:
            return studio.error(exc)
        span, error = DateRange.parse(None, None), exc.message  # the page, and what to fix
    usage = await _usage(studio, span)
    if fragment:
        return studio.render("_manage_usage.html", **usage)
    return studio.render(
        "manage_usage.html",
        200 if error is None else 400,
        sections=SECTIONS,
        section="Usage",
        error=error,
        **usage,
    )
