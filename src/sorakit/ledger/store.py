"""`Ledger`: the async repository over the ledger's tables.

Every write commits at once: a job is a row before anything is sent, its remote id is stored the
moment it is known, and every status change is an event row. SQLite runs in WAL mode with a busy
timeout so the CLI and a server can share one file.

Finished jobs (completed, failed, cancelled) no longer change except by deletion, so `get`
keeps them in a small in-process cache; this is what lets `GET /v1/videos/{id}` answer at close
to a bare endpoint's rate. Writes through this ledger keep the cache right; a deletion made by
another process is seen once the entry ages out (`CACHE_SECONDS`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import delete, event, select, tuple_
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from sorakit.errors import ConfigurationError, NotFoundError
from sorakit.ids import is_lookup_id
from sorakit.ledger.characters import CharacterStore
from sorakit.ledger.credentials import CredentialStore
from sorakit.ledger.keys import KeyStore
from sorakit.ledger.leases import LeaseStore
from sorakit.ledger.overrides import OverrideStore
from sorakit.ledger.pipelines import Budget, PipelineStore, check_budgets, lock_budgets
from sorakit.ledger.records import AssetRecord, EventRecord, JobRecord, JobStatus
from sorakit.ledger.requests import RequestStore
from sorakit.ledger.scopes import ScopeStore
from sorakit.ledger.tables import AssetRow, EventRow, JobRow

logger = logging.getLogger(__name__)

_MIGRATIONS = Path(__file__).with_name("migrations")
CACHE_SIZE = 4096
CACHE_SECONDS = 300.0
_UNFINISHED = [s.value for s in JobStatus if not s.finished]


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _upgrade(connection: Connection) -> None:
    from alembic import command  # only when a ledger is opened: Alembic is slow to import
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def _migrate(engine: AsyncEngine) -> None:
    for attempt in range(5):
        try:
            async with engine.begin() as conn:
                if engine.dialect.name == "sqlite":
                    # The driver runs each CREATE outside any transaction, so a kill mid-migration
                    # left tables without their version row. One immediate transaction makes a
                    # migration all or nothing, and serialises processes migrating at once.
                    await conn.exec_driver_sql("BEGIN IMMEDIATE")
                await conn.run_sync(_upgrade)
            return
        except OperationalError as exc:
            # Another process migrated the same database at the same moment: its schema is
            # there now, and the next pass finds nothing left to do.
            if attempt == 4 or "already exists" not in str(exc):
                raise
            await asyncio.sleep(0.1 * (attempt + 1))


class Ledger(
    PipelineStore,
    KeyStore,
    LeaseStore,
    RequestStore,
    CredentialStore,
    OverrideStore,
    CharacterStore,
    ScopeStore,
):
    """Jobs, events, assets and pipelines, persisted."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._session = async_sessionmaker(engine, expire_on_commit=False)
        self._finished: OrderedDict[str, tuple[float, JobRecord]] = OrderedDict()
        self._driven: dict[str, JobRecord | None] = {}

    def hold(self, job_id: str) -> None:
        """This process now drives the job (it holds its lease): serve its state from memory.

        While the lease is held, the job changes only through this process's writes, so the
        last one is the ledger's state; a thousand streams following their jobs then cost no
        query at all (§11).
        """
        self._driven.setdefault(job_id, None)

    def release_hold(self, job_id: str) -> None:
        """The lease is given back: read the job from the database again."""
        self._driven.pop(job_id, None)

    def _remember(self, job: JobRecord) -> JobRecord:
        """Cache a finished job under its id (and forget an unfinished one)."""
        if job.id in self._driven:
            self._driven[job.id] = None if job.status.finished else job
        self._finished.pop(job.id, None)
        if job.status.finished:
            self._finished[job.id] = (time.monotonic() + CACHE_SECONDS, job)
            if len(self._finished) > CACHE_SIZE:
                self._finished.popitem(last=False)
        return job

    @classmethod
    async def open(cls, url: str) -> Ledger:
        """Connect, creating the SQLite file's folder, and apply pending migrations."""
        if url.startswith("sqlite"):
            path = url.split(":///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            engine = create_async_engine(url)
        except Exception as exc:  # bad URL or missing driver
            raise ConfigurationError(f"cannot open the ledger at {url!r}: {exc}") from exc
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        try:
            await _migrate(engine)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine)

    async def close(self) -> None:
        await self.engine.dispose()

    async def create_job(
        self,
        *,
        files: Sequence[tuple[str, str, int, str, str]] = (),
        budgets: Sequence[Budget] = (),
        **fields: Any,
    ) -> JobRecord:
        """Insert a job, its first event and its input files in one transaction.

        `files` are `(variant, path, size, sha256, media_type)` of inputs already on disk (a fitted
        reference, an uploaded clip), so a job is never recorded without what it needs. With
        `budgets`, the job's estimate is checked against each cap in the same transaction and
        nothing is written when one would be passed (`BudgetExceededError`).
        """
        now = time.time()
        fields.setdefault("created_at", now)
        fields.setdefault("updated_at", now)
        fields.setdefault("status", JobStatus.PENDING.value)
        fields.setdefault("options", {})
        row = JobRow(**fields)
        async with self._session() as session:
            if budgets:
                await lock_budgets(session)
            session.add(row)
            await session.flush()  # the job row first: events reference it
            await check_budgets(session, budgets, row.estimated_cost, f"{row.model} at {row.size}")
            session.add(
                EventRow(job_id=row.id, at=now, status=row.status, progress=0, detail="created")
            )
            assets = [
                AssetRow(
                    job_id=row.id,
                    variant=variant,
                    path=path,
                    size=size,
                    sha256=digest,
                    media_type=media_type,
                    created_at=now,
                )
                for variant, path, size, digest, media_type in files
            ]
            session.add_all(assets)
            await session.commit()
        return JobRecord.from_row(row, {a.variant: AssetRecord.from_row(a) for a in assets})

    async def get(self, job_id: str) -> JobRecord:
        """A job by its ledger id, or by its provider's remote id."""
        if not is_lookup_id(job_id):  # never a row's id; a NUL would fail on Postgres
            raise NotFoundError(f"No video found with id '{job_id[:200]}'.", param="video_id")
        driven = self._driven.get(job_id)
        if driven is not None:
            return driven
        cached = self._finished.get(job_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        async with self._session() as session:
            job = await self._load(session, JobRow.id == job_id)
            if job is None:
                job = await self._load(session, JobRow.remote_id == job_id)
        if job is None:
            raise NotFoundError(f"No video found with id '{job_id}'.", param="video_id")
        return self._remember(job)

    async def by_client_key(self, client_key: str) -> JobRecord | None:
        """The job created under a client's Idempotency-Key, if any."""
        async with self._session() as session:
            row = (
                await session.execute(select(JobRow).where(JobRow.client_key == client_key))
            ).scalar_one_or_none()
            return (
                None
                if row is None
                else JobRecord.from_row(row, await self._assets(session, row.id))
            )

    async def update(self, job_id: str, *, detail: str | None = None, **fields: Any) -> JobRecord:
        """Change fields; a change of status or progress also writes an event row."""
        now = time.time()
        async with self._session() as session:
            row = await session.get(JobRow, job_id)
            if row is None:
                raise NotFoundError(f"No video found with id '{job_id}'.", param="video_id")
            status = fields.get("status", row.status)
            if isinstance(status, JobStatus):
                fields["status"] = status = status.value
            changed = status != row.status or fields.get("progress", row.progress) != row.progress
            for name, value in fields.items():
                setattr(row, name, value)
            row.updated_at = now
            if changed or detail:
                session.add(
                    EventRow(
                        job_id=job_id, at=now, status=status, progress=row.progress, detail=detail
                    )
                )
            await session.commit()
            return self._remember(JobRecord.from_row(row, await self._assets(session, job_id)))

    async def list_jobs(
        self,
        *,
        after: str | None = None,
        limit: int = 20,
        order: str = "desc",
        statuses: Iterable[str] | None = None,
        owner: str | None = None,
        models: Iterable[str] | None = None,
        pipeline_id: str | None = None,
        created_from: float | None = None,
        created_before: float | None = None,
        text: str | None = None,
        exclude_kinds: Iterable[str] = (),
    ) -> tuple[list[JobRecord], bool]:
        """A page of jobs by creation time, with whether more follow (cursor: a job id).

        With `owner`, only that API key's jobs (a cursor from another key's job is unknown).
        The other filters narrow the page: `created_from <= created_at < created_before`, and
        `text` is found anywhere in the prompt, ignoring case. The page is a keyset on
        `(created_at, id)` walked along `ix_jobs_owner_created_at` (or `ix_jobs_created_at`
        for every owner), so a deep page costs what the first does.
        """
        query = select(JobRow)
        if statuses is not None:
            query = query.where(JobRow.status.in_(list(statuses)))
        if owner is not None:
            query = query.where(JobRow.owner == owner)
        if models is not None:
            query = query.where(JobRow.model.in_(list(models)))
        if pipeline_id is not None:
            query = query.where(JobRow.pipeline_id == pipeline_id)
        if created_from is not None:
            query = query.where(JobRow.created_at >= created_from)
        if created_before is not None:
            query = query.where(JobRow.created_at < created_before)
        if text:
            query = query.where(JobRow.prompt.icontains(text, autoescape=True))
        if exclude_kinds := list(exclude_kinds):  # /v1/videos lists no image jobs
            query = query.where(JobRow.kind.not_in(exclude_kinds))
        descending = order == "desc"
        async with self._session() as session:
            if after is not None:
                cursor = await session.get(JobRow, after) if is_lookup_id(after) else None
                if cursor is None or (owner is not None and cursor.owner != owner):
                    raise NotFoundError(f"No video found with id '{after[:200]}'.", param="after")
                # A row value, not an OR: both SQLite and Postgres seek the index to it.
                key = tuple_(JobRow.created_at, JobRow.id)
                mark = tuple_(cursor.created_at, cursor.id)
                query = query.where(key < mark if descending else key > mark)
            if descending:
                query = query.order_by(JobRow.created_at.desc(), JobRow.id.desc())
            else:
                query = query.order_by(JobRow.created_at.asc(), JobRow.id.asc())
            rows = list((await session.execute(query.limit(limit + 1))).scalars())
            page = rows[:limit]
            assets: dict[str, dict[str, AssetRecord]] = {row.id: {} for row in page}
            if page:
                found = await session.execute(
                    select(AssetRow).where(AssetRow.job_id.in_(list(assets)))
                )
                for asset in found.scalars():
                    assets[asset.job_id][asset.variant] = AssetRecord.from_row(asset)
            return [JobRecord.from_row(r, assets[r.id]) for r in page], len(rows) > limit

    async def unfinished(self) -> list[JobRecord]:
        """Every job that is not completed, failed or cancelled, oldest first."""
        async with self._session() as session:
            rows = (
                await session.execute(
                    select(JobRow).where(JobRow.status.in_(_UNFINISHED)).order_by(JobRow.created_at)
                )
            ).scalars()
            return [JobRecord.from_row(r) for r in rows]

    async def pipeline_jobs(self, pipeline_id: str) -> list[JobRecord]:
        """A pipeline's jobs, oldest first, with their assets."""
        async with self._session() as session:
            rows = (
                await session.execute(
                    select(JobRow)
                    .where(JobRow.pipeline_id == pipeline_id)
                    .order_by(JobRow.created_at)
                )
            ).scalars()
            return [JobRecord.from_row(r, await self._assets(session, r.id)) for r in rows]

    async def known_remote_ids(self, provider: str) -> set[str]:
        """Remote ids this ledger already owns at a provider (so recovery never claims them twice)."""
        async with self._session() as session:
            result = await session.execute(
                select(JobRow.remote_id).where(
                    JobRow.provider == provider, JobRow.remote_id.is_not(None)
                )
            )
            return {rid for rid in result.scalars() if rid}

    async def add_asset(
        self, job_id: str, variant: str, path: str, size: int, sha256: str, media_type: str
    ) -> AssetRecord:
        """Record an archived file (replacing an earlier one of the same variant)."""
        self._finished.pop(job_id, None)
        async with self._session() as session:
            await session.execute(
                delete(AssetRow).where(AssetRow.job_id == job_id, AssetRow.variant == variant)
            )
            row = AssetRow(
                job_id=job_id,
                variant=variant,
                path=path,
                size=size,
                sha256=sha256,
                media_type=media_type,
                created_at=time.time(),
            )
            session.add(row)
            await session.commit()
            return AssetRecord.from_row(row)

    async def events(self, job_id: str) -> list[EventRecord]:
        """A job's status changes, oldest first."""
        async with self._session() as session:
            rows = (
                await session.execute(
                    select(EventRow)
                    .where(EventRow.job_id == job_id)
                    .order_by(EventRow.at, EventRow.id)
                )
            ).scalars()
            return [EventRecord.from_row(r) for r in rows]

    async def delete_job(self, job_id: str) -> None:
        """Remove a job with its events and asset rows (the caller removes the files)."""
        self._finished.pop(job_id, None)
        self._driven.pop(job_id, None)
        async with self._session() as session:
            await session.execute(delete(EventRow).where(EventRow.job_id == job_id))
            await session.execute(delete(AssetRow).where(AssetRow.job_id == job_id))
            await session.execute(delete(JobRow).where(JobRow.id == job_id))
            await session.commit()

    @staticmethod
    async def _load(session: Any, where: Any) -> JobRecord | None:
        """One job and its assets in a single round trip (a join, not two queries)."""
        query = (
            select(JobRow, AssetRow).outerjoin(AssetRow, AssetRow.job_id == JobRow.id).where(where)
        )
        rows = (await session.execute(query)).all()
        if not rows:
            return None
        assets = {a.variant: AssetRecord.from_row(a) for _, a in rows if a is not None}
        return JobRecord.from_row(rows[0][0], assets)

    @staticmethod
    async def _assets(session: Any, job_id: str) -> dict[str, AssetRecord]:
        rows: Sequence[AssetRow] = (
            (await session.execute(select(AssetRow).where(AssetRow.job_id == job_id)))
            .scalars()
            .all()
        )
        return {r.variant: AssetRecord.from_row(r) for r in rows}


def is_duplicate(exc: BaseException) -> bool:
    """Whether an insert failed on a unique key (an idempotency race)."""
    return isinstance(exc, IntegrityError)
