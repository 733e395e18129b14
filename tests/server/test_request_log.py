"""The request log: a row per request, written in batches off the event loop, none lost silently."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from sorakit.ledger import Ledger
from sorakit.ledger.requests import RequestRecord
from sorakit.server.requestlog import RequestLog
from sorakit.settings import Settings


def record(index: int, **extra: object) -> RequestRecord:
    fields: dict[str, object] = {
        "at": 1_760_000_000 + index / 1000,
        "key_id": f"key_{index % 3}" if index % 4 else None,
        "method": "GET",
        "route": "/v1/videos/{video_id}",
        "model": "sora-2" if index % 2 else None,
        "video_id": f"video_{index:032x}",
        "status": 200 if index % 5 else 404,
        "latency_ms": round(0.5 + index / 7, 3),
        "cost": 0.4 if index % 7 == 0 else None,
    }
    fields.update(extra)
    return RequestRecord(**fields)  # type: ignore[arg-type]


@pytest.fixture
async def ledger(settings: Settings) -> AsyncIterator[Ledger]:
    ledger = await Ledger.open(settings.ledger_url)
    yield ledger
    await ledger.close()


async def written(ledger: Ledger) -> list[RequestRecord]:
    """Every logged row, oldest first."""
    return list(reversed(await ledger.recent_requests(limit=1000)))


async def test_rows_wait_for_a_flush_and_the_last_ones_are_written_at_shutdown(
    ledger: Ledger,
) -> None:
    log = RequestLog(ledger, flush_seconds=3600)
    log.start()
    records = [record(i) for i in range(120)]
    for one in records:
        log.add(one)
    await asyncio.sleep(0.05)
    assert await written(ledger) == [] and log.pending == 120  # nothing on the request path
    await log.aclose()
    assert await written(ledger) == records  # every field as recorded, in order
    assert log.pending == 0 and log.dropped == 0


async def test_the_writer_flushes_on_its_own_schedule(ledger: Ledger) -> None:
    log = RequestLog(ledger, flush_seconds=0.05)
    log.start()
    try:
        log.add(record(1))
        for _ in range(200):
            if await written(ledger):
                break
            await asyncio.sleep(0.02)
        assert await written(ledger) == [record(1)]
    finally:
        await log.aclose()


async def test_a_sqlite_batch_is_written_by_a_worker_thread(
    ledger: Ledger, settings: Settings
) -> None:
    """The write itself runs off the event loop's thread (the p99 spikes of §12)."""
    threads: list[int] = []
    path = settings.ledger_url.split(":///", 1)[1]
    original = sqlite3.connect

    def connect(database: str, timeout: float = 5.0) -> sqlite3.Connection:
        if database == path:
            threads.append(threading.get_ident())
        return original(database, timeout=timeout)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sqlite3, "connect", connect)
        await ledger.log_requests([record(i) for i in range(3)])
    assert threads and threading.get_ident() not in threads
    assert await written(ledger) == [record(i) for i in range(3)]


async def test_a_burst_past_capacity_is_counted_and_logged_never_lost_silently(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    log = RequestLog(ledger, capacity=500, flush_seconds=3600)
    for index in range(2000):
        log.add(record(index))
    assert log.pending == 500 and log.dropped == 1500
    with caplog.at_level(logging.WARNING, logger="sorakit.server.requestlog"):
        await log.flush()
    assert "1500 rows dropped" in caplog.text
    assert await written(ledger) == [record(i) for i in range(500)]
    # Room again after the flush: the next rows are kept, and the warning is not repeated.
    caplog.clear()
    log.add(record(5000))
    with caplog.at_level(logging.WARNING, logger="sorakit.server.requestlog"):
        await log.flush()
    assert "dropped" not in caplog.text and log.dropped == 1500
    assert (await written(ledger))[-1] == record(5000)


class FlakyLedger:
    """A ledger whose first `fails` batch writes raise, as a locked database does."""

    def __init__(self, ledger: Ledger, fails: int) -> None:
        self.ledger = ledger
        self.fails = fails

    async def log_requests(self, records: Sequence[RequestRecord]) -> None:
        if self.fails:
            self.fails -= 1
            raise sqlite3.OperationalError("database is locked")
        await self.ledger.log_requests(records)


async def test_a_failed_batch_waits_for_the_next_flush_in_order(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    log = RequestLog(FlakyLedger(ledger, fails=1), capacity=150, flush_seconds=3600)  # type: ignore[arg-type]
    for index in range(100):
        log.add(record(index))
    with caplog.at_level(logging.WARNING, logger="sorakit.server.requestlog"):
        await log.flush()
    assert "could not write 100 request-log rows" in caplog.text and log.pending == 100
    for index in range(100, 200):  # rows that came meanwhile; room for 50 of them
        log.add(record(index))
    assert log.dropped == 50
    await log.flush()
    assert await written(ledger) == [record(i) for i in range(150)]


async def test_concurrent_flushes_write_each_row_once(ledger: Ledger) -> None:
    log = RequestLog(ledger, flush_seconds=3600)
    for index in range(300):
        log.add(record(index))
        if index % 50 == 49:
            await asyncio.sleep(0)
    await asyncio.gather(log.flush(), log.flush(), log.flush())
    assert await written(ledger) == [record(i) for i in range(300)]


def test_a_burst_of_concurrent_requests_is_logged_whole_by_shutdown(
    settings: Settings, serve: Callable[[Settings], AbstractContextManager[str]]
) -> None:
    """Through a real server: 300 requests at once, each a row once the server has stopped."""
    ids = [f"video_{index:032x}" for index in range(300)]

    async def burst(url: str) -> list[int]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            answers = await asyncio.gather(*(client.get(f"/v1/videos/{i}") for i in ids))
            return [answer.status_code for answer in answers]

    with serve(settings) as url:
        assert asyncio.run(burst(url)) == [404] * 300

    connection = sqlite3.connect(Path(settings.home) / "sorakit.db")
    try:
        rows = connection.execute(
            "SELECT method, route, status, video_id FROM request_log "
            "WHERE route = '/v1/videos/{video_id}'"
        ).fetchall()
    finally:
        connection.close()
    assert sorted(rows) == [("GET", "/v1/videos/{video_id}", 404, None)] * 300
