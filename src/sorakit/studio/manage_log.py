"""Admin · Request log: the ledger's request log, newest first, a page at a time.

The same rows `GET /admin/log` answers (`Ledger.recent_requests`), filtered by key and status
class. The cursor is the time of a page's last row and how many rows of that time it showed,
so the next page neither skips nor repeats rows logged at the same instant.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from sorakit.errors import InvalidRequestError
from sorakit.ledger.requests import RequestRecord
from sorakit.studio.manage_common import SECTIONS, refusal
from sorakit.studio.render import Studio, StudioDep

router = APIRouter()

PAGE_SIZE = 50
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")
MAX_SEEN = 100_000
"""The most rows of one instant a cursor may skip (more is no cursor this page made)."""


@dataclass(frozen=True)
class LogFilter:
    """What the log shows: one key's requests, one status class, from a cursor back."""

    key_id: str | None
    status: str | None
    at_most: float | None
    seen: int
    """Rows at `at_most` the previous page already showed."""

    @classmethod
    def parse(cls, key_id: str | None, status: str | None, cursor: str | None) -> LogFilter:
        status = (status or "").strip() or None
        if status is not None and status not in STATUS_CLASSES:
            raise InvalidRequestError(
                f"Unknown status class {status!r}.", param="status", allowed=STATUS_CLASSES
            )
        at_most, seen = None, 0
        if cursor:
            at, _, count = cursor.partition("~")
            try:
                at_most, seen = float(at), int(count)
            except ValueError:
                at_most, seen = math.nan, 0
            if not math.isfinite(at_most) or not 0 <= seen <= MAX_SEEN:
                raise InvalidRequestError(
                    "This page of the log is out of date; open the log again.", param="cursor"
                )
        return cls((key_id or "").strip() or None, status, at_most, seen)

    @property
    def status_class(self) -> int | None:
        return int(self.status[0]) if self.status else None

    def query(self, cursor: str) -> dict[str, str]:
        """The query string of the page after this one."""
        query = {"cursor": cursor}
        if self.key_id:
            query["key_id"] = self.key_id
        if self.status:
            query["status"] = self.status
        return query


@dataclass(frozen=True)
class LogLine:
    """One request as the log shows it."""

    record: RequestRecord
    at: str
    key: str


async def _page(studio: Studio, chosen: LogFilter) -> dict[str, Any]:
    ledger = studio.engine.ledger
    keys = await ledger.list_keys(include_revoked=True)
    names = {key.id: key.name for key in keys}
    records = await ledger.recent_requests(
        limit=PAGE_SIZE + chosen.seen + 1,
        key_id=chosen.key_id,
        at_most=chosen.at_most,
        status_class=chosen.status_class,
    )
    records = records[chosen.seen :]
    shown, more = records[:PAGE_SIZE], len(records) > PAGE_SIZE
    next_query: dict[str, str] | None = None
    if more:
        last = shown[-1].at
        same = sum(1 for r in shown if r.at == last)
        if chosen.at_most == last:
            same += chosen.seen  # the whole page was one instant: count the ones before it too
        next_query = chosen.query(f"{last!r}~{same}")
    lines = [
        LogLine(
            record,
            dt.datetime.fromtimestamp(record.at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
            names.get(record.key_id, record.key_id) if record.key_id else "(no key)",
        )
        for record in shown
    ]
    return {
        "lines": lines,
        "next_query": next_query,
        "keys": keys,
        "key_id": chosen.key_id or "",
        "status": chosen.status or "",
        "status_classes": STATUS_CLASSES,
    }


@router.get("/manage/log")
async def log_page(
    studio: StudioDep,
    key_id: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
) -> Response:
    """The log; htmx gets the table for a filter, or the next page's rows for a cursor."""
    if (refused_now := refusal(studio)) is not None:
        return refused_now
    fragment = studio.is_htmx and not studio.request.headers.get("hx-history-restore-request")
    try:
        chosen, error = LogFilter.parse(key_id, status, cursor), None
    except InvalidRequestError as exc:
        if fragment:
            return studio.error(exc)
        chosen, error = LogFilter(None, None, None, 0), exc.message
    context = await _page(studio, chosen)
    if fragment:
        return studio.render("_manage_log_rows.html" if cursor else "_manage_log.html", **context)
    return studio.render(
        "manage_log.html",
        200 if error is None else 400,
        sections=SECTIONS,
        section="Request log",
        error=error,
        **context,
    )
