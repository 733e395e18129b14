"""The request log in the ledger: written in batches, read back for the admin and `sorakit usage`.

On SQLite a batch is written by the standard `sqlite3` driver in a worker thread, one
`executemany` on a short-lived connection: through the async engine, SQLAlchemy's per-row work ran
on the event loop and stalled the requests being served for tens of milliseconds a batch.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any

import anyio
from sqlalchemy import case, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from sorakit.ledger.tables import RequestRow


@dataclass(frozen=True)
class RequestRecord:
    """One logged request."""

    at: float
    key_id: str | None
    method: str
    route: str
    model: str | None
    video_id: str | None
    status: int
    latency_ms: float
    cost: float | None


_COLUMNS = tuple(f.name for f in fields(RequestRecord))
_INSERT = (
    f"INSERT INTO {RequestRow.__tablename__} ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_COLUMNS))})"
)
_ROW = attrgetter(*_COLUMNS)


def _write_sqlite(path: str, records: Sequence[RequestRecord]) -> None:
    """Append rows to a SQLite ledger file (blocking: run it in a thread)."""
    rows = [_ROW(record) for record in records]
    connection = sqlite3.connect(path, timeout=10.0)  # the ledger's busy timeout
    try:
        connection.execute("PRAGMA synchronous=NORMAL")  # as the ledger's own connections
        with connection:  # one transaction
            connection.executemany(_INSERT, rows)
    finally:
        connection.close()


class RequestStore:
    """The request-log half of the ledger (mixed into `Ledger`)."""

    engine: AsyncEngine
    _session: async_sessionmaker[AsyncSession]

    async def log_requests(self, records: Sequence[RequestRecord]) -> None:
        """Append many rows in one statement, off the event loop where the database allows."""
        if not records:
            return
        url = self.engine.url
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            await anyio.to_thread.run_sync(_write_sqlite, url.database, records)
            return
        async with self._session() as session:
            await session.execute(insert(RequestRow), [vars(r) for r in records])
            await session.commit()

    async def recent_requests(
        self,
        *,
        limit: int = 100,
        key_id: str | None = None,
        at_most: float | None = None,
        status_class: int | None = None,
    ) -> list[RequestRecord]:
        """Newest first; `at_most` pages back from a time, `status_class` 4 keeps the 4xx only."""
        query = select(RequestRow).order_by(RequestRow.at.desc(), RequestRow.id.desc()).limit(limit)
        if key_id is not None:
            query = query.where(RequestRow.key_id == key_id)
        if at_most is not None:
            query = query.where(RequestRow.at <= at_most)
        if status_class is not None:
            low = status_class * 100
            query = query.where(RequestRow.status >= low, RequestRow.status < low + 100)
        async with self._session() as session:
            rows = (await session.execute(query)).scalars()
            return [
                RequestRecord(
                    r.at,
                    r.key_id,
                    r.method,
                    r.route,
                    r.model,
                    r.video_id,
                    r.status,
                    r.latency_ms,
                    r.cost,
                )
                for r in rows
            ]

    async def request_counts(self, since: float) -> list[dict[str, Any]]:
        """Requests, errors and mean latency per key and route since a time."""
        query = (
            select(
                RequestRow.key_id,
                RequestRow.route,
                func.count(),
                func.sum(case((RequestRow.status >= 400, 1), else_=0)),
                func.avg(RequestRow.latency_ms),
            )
            .where(RequestRow.at >= since)
            .group_by(RequestRow.key_id, RequestRow.route)
            .order_by(RequestRow.key_id, RequestRow.route)
        )
        async with self._session() as session:
            return [
                {
                    "key_id": key_id,
                    "route": route,
                    "requests": int(count),
                    "errors": int(errors or 0),
                    "mean_latency_ms": round(float(latency or 0), 3),
                }
                for key_id, route, count, errors, latency in (await session.execute(query)).all()
            ]
