"""Server time of the studio's Library page with 100, 10,000 and 100,000 jobs in a tenant's
library: keyset pages along the owner's index against the naive ways, side by side.

For each size a fresh SQLite ledger (or, with `--database-url`, a fresh Postgres database) is
migrated, then filled with bulk inserts straight through SQLAlchemy: the benched tenant's N jobs
interleaved in time with N more of three other tenants, every completed job with its three
asset rows. Each ledger gets the real app (`create_app`, lifespan on), answering in-process over
httpx's `ASGITransport`, signed in by the studio's own session cookie: a timing is the server's
work (middleware, sign-in check, queries, rendering the whole page) plus a few tens of
microseconds of in-process transport.

Four ways to get one page of 24 cards, all through the same app, sign-in and template:
- **keyset** (`GET /library`, `GET /library?after=ID`): the Library as shipped;
- **OFFSET**: the same page by `OFFSET k LIMIT 25` (what most paginated galleries do);
- **load all**: every one of the tenant's rows loaded, the page sliced in Python (what a
  Streamlit-style gallery does);
- **admin keyset**: the Library of the admin key, which lists all 2N jobs.
"First" is the newest page; "deep" is the last full page (the oldest 24 jobs). Every cell gets
one request a round, the cells of all sizes shuffled together, so a neighbour's load on a
shared machine falls on every cell alike. The plans the database chose for the keyset deep
pages' statements are printed after the tables.

Run: .venv/bin/python bench/studio_library.py [--quick] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from _common import machine, percentile, table
from sorakit.studio.render import StudioDep  # at module level: FastAPI resolves it here

PROMPTS = [
    "a calico cat plays a grand piano on a moonlit stage",
    "a red kite over a windy beach at dusk",
    "a paper boat drifting down a rain gutter",
    "a lighthouse at dawn, slow dolly in",
    "timelapse of clouds over a mountain lake",
]
OTHER_TENANTS = 3
CHUNK = 5000


def _job_row(index: int, owner: str, start: float) -> dict[str, Any]:
    completed = index % 20 != 0  # one in twenty failed
    created = start + index * 0.5
    return {
        "id": f"video_{index:032x}",
        "kind": "generate",
        "status": "completed" if completed else "failed",
        "model": "sora-2-pro" if index % 3 == 0 else "sora-2",
        "provider": "simulator",
        "provider_model": "sora-2",
        "prompt": f"{PROMPTS[index % len(PROMPTS)]} (take {index})",
        "seconds": 4,
        "size": "1280x720",
        "idempotency_key": f"bench-{index}",
        "remote_id": f"sim_{index:024x}",
        "progress": 100 if completed else 40,
        "error_code": None if completed else "internal_error",
        "error_message": None if completed else "the render failed",
        "estimated_cost": 0.4,
        "cost": 0.4 if completed else None,
        "expected_render_seconds": 60.0,
        "options": {"changes": []},
        "submit_attempts": 1,
        "created_at": created,
        "updated_at": created + 70,
        "submitted_at": created + 1,
        "completed_at": created + 70,
        "owner": owner,
    }


def _asset_rows(job: dict[str, Any], home: Path) -> list[dict[str, Any]]:
    if job["status"] != "completed":
        return []
    return [
        {
            "job_id": job["id"],
            "variant": variant,
            "path": str(home / "assets" / job["id"] / f"{variant}.{ext}"),
            "size": size,
            "sha256": "0" * 64,
            "media_type": media,
            "created_at": job["completed_at"],
        }
        for variant, ext, media, size in (
            ("video", "mp4", "video/mp4", 1_500_000),
            ("thumbnail", "webp", "image/webp", 40_000),
            ("spritesheet", "jpg", "image/jpeg", 90_000),
        )
    ]


async def seed(settings: Any, jobs: int) -> dict[str, Any]:
    """The ledger, filled: the benched tenant's and the admin's tokens, and the job ids each
    sees, newest first."""
    from sqlalchemy import insert, text

    from sorakit.ledger import Ledger
    from sorakit.ledger.tables import AssetRow, JobRow

    ledger = await Ledger.open(settings.ledger_url)
    try:
        alice, token = await ledger.create_key("alice")
        admin_token = (await ledger.create_key("root", admin=True))[1]
        others = [(await ledger.create_key(f"tenant-{n}"))[0].id for n in range(OTHER_TENANTS)]
        total = jobs * 2  # alice's, interleaved with as many of the others'
        owners = [
            alice.id if i % 2 == 0 else others[(i // 2) % OTHER_TENANTS] for i in range(total)
        ]
        start = time.time() - total
        for first in range(0, total, CHUNK):
            rows = [_job_row(i, owners[i], start) for i in range(first, min(total, first + CHUNK))]
            assets = [asset for row in rows for asset in _asset_rows(row, settings.home)]
            async with ledger.engine.begin() as conn:
                await conn.execute(insert(JobRow), rows)
                if assets:
                    await conn.execute(insert(AssetRow), assets)
        async with ledger.engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
        every = [f"video_{i:032x}" for i in reversed(range(total))]
        return {
            "token": token,
            "admin_token": admin_token,
            "ids": [job_id for job_id in every if owners[int(job_id[6:], 16)] == alice.id],
            "every": every,
        }
    finally:
        await ledger.close()


def add_naive_routes(app: Any) -> None:
    """The same page by OFFSET, and by loading every row, through the same sign-in and template."""
    from fastapi import Response
    from sqlalchemy import select

    from sorakit.ledger import AssetRecord, JobRecord
    from sorakit.ledger.tables import AssetRow, JobRow
    from sorakit.studio.library_query import PAGE_SIZE, SPRITE_GRID, STATUSES, Filters, Page, _page
    from sorakit.studio.render import Studio

    async def page_of(studio: Studio, jobs: list[Any], offset: int, more: bool) -> Page:
        assets: dict[str, dict[str, AssetRecord]] = {job.id: {} for job in jobs}
        async with studio.engine.ledger._session() as session:
            found = await session.execute(select(AssetRow).where(AssetRow.job_id.in_(assets)))
            for asset in found.scalars():
                assets[asset.job_id][asset.variant] = AssetRecord.from_row(asset)
        jobs = [replace(job, assets=assets[job.id]) for job in jobs]
        return _page(jobs, Filters(), newer=offset > 0, older=more)

    def render(studio: Studio, page: Page) -> Response:
        return studio.render(
            "library.html",
            filters=Filters(),
            page=page,
            error=None,
            statuses=STATUSES,
            models=[entry.name for entry in studio.engine.catalog],
            sprite=SPRITE_GRID,
            sees_all=False,
        )

    def newest_first(owner: str) -> Any:
        return (
            select(JobRow)
            .where(JobRow.owner == owner)
            .order_by(JobRow.created_at.desc(), JobRow.id.desc())
        )

    @app.get("/bench/offset")
    async def by_offset(studio: StudioDep, offset: int = 0) -> Response:
        assert studio.principal is not None and studio.principal.key is not None
        query = newest_first(studio.principal.key.id).offset(offset).limit(PAGE_SIZE + 1)
        async with studio.engine.ledger._session() as session:
            jobs = [JobRecord.from_row(row) for row in (await session.execute(query)).scalars()]
        page = await page_of(studio, jobs[:PAGE_SIZE], offset, len(jobs) > PAGE_SIZE)
        return render(studio, page)

    @app.get("/bench/all")
    async def load_all(studio: StudioDep, offset: int = 0) -> Response:
        assert studio.principal is not None and studio.principal.key is not None
        query = newest_first(studio.principal.key.id)
        async with studio.engine.ledger._session() as session:
            every = [JobRecord.from_row(row) for row in (await session.execute(query)).scalars()]
        chosen = every[offset : offset + PAGE_SIZE]
        page = await page_of(studio, chosen, offset, offset + PAGE_SIZE < len(every))
        return render(studio, page)


@contextlib.asynccontextmanager
async def running(settings: Any, *tokens: str) -> AsyncIterator[Any]:
    """The app in-process, with its lifespan, and a client signed in with each token."""
    import httpx

    from sorakit.server import create_app
    from sorakit.studio.session import COOKIE_NAME, Session, SessionCookies

    app = create_app(settings)
    add_naive_routes(app)
    sessions = SessionCookies.from_settings(settings)
    async with app.router.lifespan_context(app), contextlib.AsyncExitStack() as stack:
        transport = httpx.ASGITransport(app=app)
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=transport,
                    base_url="http://127.0.0.1",
                    cookies={COOKIE_NAME: sessions.encode(Session.new(token))},
                )
            )
            for token in tokens
        ]
        yield app, clients


PAGES = ("first", "deep")
WAYS = ("keyset", "OFFSET", "load all", "admin keyset")


@contextlib.asynccontextmanager
async def databases(args: argparse.Namespace, sizes: list[int]) -> AsyncIterator[list[Any]]:
    """Settings for each size: its own SQLite file, or its own Postgres database (dropped after)."""
    from sorakit.settings import get_settings

    with tempfile.TemporaryDirectory(prefix="sorakit-bench-library-") as tmp:
        homes = [Path(tmp) / str(jobs) for jobs in sizes]
        if not args.database_url:
            yield [get_settings(home=home) for home in homes]
            return
        import asyncpg

        admin = await asyncpg.connect(args.database_url.replace("+asyncpg", "", 1))
        names = [f"sorakit_bench_library_{jobs}" for jobs in sizes]
        try:
            for name in names:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await admin.execute(f'CREATE DATABASE "{name}"')
            base = args.database_url.rsplit("/", 1)[0]
            yield [
                get_settings(home=home, database_url=f"{base}/{name}")
                for home, name in zip(homes, names, strict=True)
            ]
        finally:
            for name in names:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


def page_calls(
    client: Any, admin: Any, ledger: dict[str, Any]
) -> dict[str, dict[str, Callable[[], Awaitable[None]]]]:
    """Each way's first and deep page, as a call that checks it got a page of 24 cards."""
    ids, every = ledger["ids"], ledger["every"]
    deep, deepest = len(ids) - 24, len(every) - 24  # the last full page

    async def get(path: str, as_admin: bool = False, **params: Any) -> None:
        answer = await (admin if as_admin else client).get(path, params=params)
        assert answer.status_code == 200, answer.text[:300]
        assert answer.text.count('class="tile"') == 24, path

    return {
        "keyset": {
            "first": lambda: get("/library"),
            "deep": lambda: get("/library", after=ids[deep - 1]),
        },
        "OFFSET": {
            "first": lambda: get("/bench/offset"),
            "deep": lambda: get("/bench/offset", offset=deep),
        },
        "load all": {
            "first": lambda: get("/bench/all"),
            "deep": lambda: get("/bench/all", offset=deep),
        },
        "admin keyset": {
            "first": lambda: get("/library", as_admin=True),
            "deep": lambda: get("/library", as_admin=True, after=every[deepest - 1]),
        },
    }


async def interleaved(runs: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Every cell one request a round, in a shuffled order, so a neighbour's load on this
    machine falls on all cells alike; a cell past its time budget stops at 10 requests."""
    cells = [(run, way, page) for run in runs for way in WAYS for page in PAGES]
    for run, way, page in cells:  # warm-up: caches, statement caches, the allocator
        for _ in range(3 if way != "load all" else 1):
            await run["calls"][way][page]()
    spent = {id(cell): 0.0 for cell in cells}
    order = random.Random(0)
    for _ in range(args.requests):
        order.shuffle(cells)
        for cell in cells:
            run, way, page = cell
            times = run["results"][way][page]
            if len(times) >= 10 and spent[id(cell)] > args.budget:
                continue
            t0 = time.perf_counter()
            await run["calls"][way][page]()
            elapsed = time.perf_counter() - t0
            times.append(elapsed * 1000)
            spent[id(cell)] += elapsed


async def explain(app: Any, request: Callable[[], Awaitable[None]]) -> list[str]:
    """The query plans of the statements one keyset request runs on the jobs table."""
    from sqlalchemy import event

    engine = app.state.engine.ledger.engine
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "FROM jobs" in statement and "api_keys" not in statement:
            seen.append((statement, params))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        await request()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    sqlite = engine.dialect.name == "sqlite"
    lines = []
    async with engine.connect() as conn:
        for statement, params in seen:
            prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            plan = await conn.exec_driver_sql(prefix + statement, params)
            where = statement.split("WHERE", 1)[-1].split("ORDER BY")[0].split("LIMIT")[0]
            lines.append(f"- `WHERE {' '.join(where.split())}`")
            lines += [f"    {row[-1]}" for row in plan]
    return lines


def _ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q):.2f}"


def report(runs: list[dict[str, Any]], plans: list[str]) -> None:
    rows = []
    for run in runs:
        for page in ("first", "deep"):
            cells = [f"{run['jobs']:,}", page]
            for way in WAYS:
                times = run["results"][way][page]
                cells.append(f"{_ms(times, 50)} / {_ms(times, 95)}")
            rows.append(cells)
    print(table(["jobs", "page", *(f"{way} p50 / p95" for way in WAYS)], rows))
    small, large = runs[0], runs[-1]
    ratio_rows = []
    for way in WAYS:
        cells = [way]
        for page in ("first", "deep"):
            a = statistics.median(small["results"][way][page])
            b = statistics.median(large["results"][way][page])
            cells.append(f"{b / a:.2f}x")
        ratio_rows.append(cells)
    print()
    label = f"{large['jobs']:,} / {small['jobs']:,} (p50)"
    print(table(["way", f"first page {label}", f"deep page {label}"], ratio_rows))
    print()
    seeded = ", ".join(f"{run['jobs']:,} jobs in {run['seeded']:.1f} s" for run in runs)
    print(f"Ledgers seeded (bulk inserts, twice the jobs with their assets): {seeded}.")
    print()
    print(
        f"Plans of the keyset deep pages (the tenant's, then the admin's) at {large['jobs']:,} jobs:"
    )
    print("\n".join(plans))


async def amain(args: argparse.Namespace) -> None:
    sizes = [100, 1_000] if args.quick else [100, 10_000, 100_000]
    runs: list[dict[str, Any]] = []
    async with databases(args, sizes) as every_settings, contextlib.AsyncExitStack() as stack:
        for jobs, settings in zip(sizes, every_settings, strict=True):
            t0 = time.perf_counter()
            ledger = await seed(settings, jobs)
            seeded = time.perf_counter() - t0
            print(f"... {jobs:,} jobs seeded in {seeded:.1f} s", flush=True)
            tokens = ledger["token"], ledger["admin_token"]
            app, (client, admin) = await stack.enter_async_context(running(settings, *tokens))
            calls = page_calls(client, admin, ledger)
            results = {way: {page: [] for page in PAGES} for way in WAYS}
            runs.append({"jobs": jobs, "seeded": seeded, "calls": calls, "results": results})
        await interleaved(runs, args)
        largest = runs[-1]["calls"]
        plans = await explain(app, largest["keyset"]["deep"])
        plans += await explain(app, largest["admin keyset"]["deep"])
    print()
    print(f"Machine: {machine()}; milliseconds a request, up to {args.requests} requests a cell")
    print("(at least 10 where a cell passed its time budget), cells interleaved.")
    print()
    report(runs, plans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 jobs, fewer requests")
    parser.add_argument("--requests", type=int, default=200, help="requests a cell")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds a cell may take")
    parser.add_argument(
        "--database-url", help="a Postgres server's URL: each size gets its own database there"
    )
    args = parser.parse_args()
    if args.quick:
        args.requests = min(args.requests, 30)
    asyncio.run(amain(args))


if __name__ == "__main__":
    main()
