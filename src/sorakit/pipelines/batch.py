"""Batches: the rows of a JSONL or CSV file rendered as one resumable, rate-limited pipeline.

Each row (and each of its `n` takes) is a named step (`row-17`, `row-17-v2`) of one `batch`
pipeline whose id comes from the file's sha256, so running the same file again (or
`sorakit jobs resume`) finds the same batch: finished rows are reused, rows in flight are
tracked, and only what is missing is paid for. A batch made for an API key (`owner`) is that
key's: its id comes from the key and the file, and its rows are the key's jobs. Every row is checked before the pipeline exists;
one bad row refuses the file, with its line number, and nothing is sent.

Money and rate are kept where they hold across processes and retries:

- budgets live in the ledger: the steps are inserted (their estimates reserved) one by one in
  file order, each before it is sent, and a row whose estimate would pass the run's cap or the global one
  is `skipped` with the ledger's sentence;
- every create, retries included, passes `RateLimiter.slot` through the runner's submit gate: a
  token bucket per provider credential with continuous refill, which a 429 slows down (AIMD)
  instead of failing the row. Each batch has its own limiter, registered by its pipeline id, so
  batches running at once in one engine never pace (or stop pacing) each other.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from sorakit.catalog.capabilities import request_mode
from sorakit.engine import Engine, Owner, Step
from sorakit.engine.planning import planned_size
from sorakit.engine.routes import ROUTES
from sorakit.engine.runner import ProgressCallback, SubmitGate
from sorakit.errors import (
    BudgetExceededError,
    NotFoundError,
    SorakitError,
    TransientProviderError,
)
from sorakit.ledger import JobRecord, JobStatus, PipelineRecord, PipelineStatus
from sorakit.ledger.credentials import env_credential_id
from sorakit.pipelines.batch_files import (
    BatchRow,
    Report,
    RowResult,
    file_digest,
    read_rows,
    totals_of,
    write_reports,
)
from sorakit.pipelines.ratelimit import RateLimiter, credential_key
from sorakit.pipelines.steps import check_owner_budget, owner_of, record_pipeline

if TYPE_CHECKING:
    from sorakit.pipelines.resume import Resumed
    from sorakit.settings import Settings

logger = logging.getLogger(__name__)

KIND = "batch"
_CREDENTIALS = {
    "openai": "openai_api_key",
    "fal": "fal_key",
    "runway": "runway_api_secret",
    "gemini": "gemini_api_key",
    "vertex": "vertex_project",
}
"""The setting that holds each provider's credential: one bucket per credential."""
_SUBMIT_ROUNDS = 3
"""Rounds of the runner's own retries a row gets before a transient failure is reported."""


@dataclass
class BatchRequest:
    """What a user asks for; stored in the pipeline row so a resume needs nothing else."""

    file: str
    concurrency: int = 8
    """Jobs in flight at once."""
    rpm: float | None = None
    """Creates per minute per provider credential (overrides `settings.rate_limits`)."""
    budget_usd: float | None = None
    out: str | None = None
    report: str | None = None
    """An extra report (`.csv` or `.json`) besides the two written in the batch's folder."""
    new: bool = False
    """Start a new batch even if this file ran before."""
    owner: str | None = None
    """The gateway API key the steps are made for (they are its videos, on its budget)."""
    owner_budget_usd: float | None = None
    """That key's budget when the pipeline was asked for; the whole estimate must fit in it."""
    owner_sees_all: bool = False
    """That key is the admin key (`Owner.sees_all`), kept so a resume keeps its rights."""
    owner_scope_id: str | None = None
    """The project (budget scope) the steps count against; None: no project."""
    owner_scope_budget_usd: float | None = None
    """That project's cap; the whole estimate must fit in it too."""


@dataclass
class BatchResult:
    """A batch after a run: every row's outcome and where the report is."""

    pipeline: PipelineRecord
    folder: Path
    rows: list[RowResult]
    report: Path
    rate_limited: int = 0
    """429s the provider answered during this run."""
    seconds: float = 0.0
    totals: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(row.status == "completed" for row in self.rows)

    def summary(self) -> str:
        t = self.totals
        return (
            f"{self.pipeline.id}: {t['completed']} completed, {t['failed']} failed, "
            f"{t['skipped']} skipped of {t['rows']}; ${t['cost_usd']:.2f} spent "
            f"(estimated ${t['estimated_usd']:.2f}); {self.rate_limited} rate limited; "
            f"{self.seconds:.1f} s"
        )


# running


class Batches:
    """Starts, runs and resumes batch pipelines on an engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def start(self, request: BatchRequest) -> PipelineRecord:
        """Check every row, then find this file's batch or record a new one; nothing is paid."""
        path = Path(request.file).resolve()
        pooled = await self.engine.upstream.pooled_providers()
        rows = await anyio.to_thread.run_sync(read_rows, path, self.engine, pooled)
        digest = await anyio.to_thread.run_sync(file_digest, path)
        owner = owner_of(request)
        if request.new:
            pipeline_id = f"batch_{uuid.uuid4().hex[:24]}"
        else:
            pipeline_id = f"batch_{_scoped(digest, owner)[:24]}"
        spec = {
            "request": {**asdict(request), "file": str(path)},
            "sha256": digest,
            "rows": [asdict(row) for row in rows],
            "folder": str(self._folder(request, pipeline_id)),
        }
        existing = await self._find(pipeline_id)
        await check_owner_budget(
            self.engine,
            owner,
            estimate_rows(self.engine, rows),
            f"the batch of {sum(row.n for row in rows)} videos",
            pipeline_id=pipeline_id if existing else None,  # its spend so far is in the estimate
        )
        if existing is None:
            return await record_pipeline(
                self.engine,
                models=[row.model for row in rows],
                id=pipeline_id,
                kind=KIND,
                title=f"{path.name} ({len(rows)} rows)",
                spec=spec,
                budget_usd=request.budget_usd,
            )
        logger.info("%s: %s ran before; resuming its batch", pipeline_id, path.name)
        # This run's options (rate, budget, report) apply; its files stay in the batch's folder,
        # its rows on the servers the batch was started on.
        kept = {key: existing.spec[key] for key in ("folder", ROUTES) if key in existing.spec}
        return await self.engine.ledger.update_pipeline(
            pipeline_id,
            spec={**spec, **kept},
            budget_usd=request.budget_usd,
        )

    async def _find(self, pipeline_id: str) -> PipelineRecord | None:
        try:
            return await self.engine.ledger.get_pipeline(pipeline_id)
        except NotFoundError:
            return None

    def _folder(self, request: BatchRequest, pipeline_id: str) -> Path:
        root = Path(request.out) if request.out else self.engine.settings.home / "pipelines"
        return (root / pipeline_id).resolve()

    async def generate(
        self, request: BatchRequest, on_progress: ProgressCallback | None = None
    ) -> BatchResult:
        """Start (or find) the file's batch and run it to the end."""
        return await self.run((await self.start(request)).id, on_progress)

    async def run(
        self, pipeline_id: str, on_progress: ProgressCallback | None = None
    ) -> BatchResult:
        """Run (or resume) a batch: finished rows are reused, never paid for again."""
        started = time.monotonic()
        pipeline = await self.engine.ledger.update_pipeline(
            pipeline_id, status=PipelineStatus.RUNNING, error_message=None
        )
        request = BatchRequest(**pipeline.spec["request"])
        rows = [BatchRow(**row) for row in pipeline.spec["rows"]]
        limiter = (
            RateLimiter(default_rpm=request.rpm)
            if request.rpm
            else RateLimiter.from_settings(self.engine.settings)
        )
        run = _Run(self.engine, pipeline, rows, on_progress)
        with _BatchGates.pacing(self.engine, pipeline_id, limiter):
            results = await run.all(request.concurrency)
        folder = Path(pipeline.spec["folder"])
        penalties = sum(limiter.bucket(key).penalties for key in run.keys)
        result = BatchResult(
            pipeline,
            folder,
            results,
            folder / "report.json",
            rate_limited=penalties,
            seconds=time.monotonic() - started,
        )
        result.totals = {**totals_of(results), "rate_limited": penalties}
        report = Report(pipeline_id, results, result.totals)
        await anyio.to_thread.run_sync(lambda: write_reports(report, folder, request.report))
        if request.report:
            result.report = Path(request.report).resolve()
        result.pipeline = await self.engine.ledger.update_pipeline(
            pipeline_id,
            status=PipelineStatus.COMPLETED if result.ok else PipelineStatus.FAILED,
            output=str(result.report),
            error_message=None if result.ok else result.summary(),
            state={"totals": result.totals},
        )
        logger.info("%s", result.summary())
        return result

    async def resume(
        self, pipeline_id: str, on_progress: ProgressCallback | None = None
    ) -> Resumed:
        """`run`, in the shape `resume_pipelines` expects."""
        from sorakit.pipelines.resume import Resumed

        result = await self.run(pipeline_id, on_progress)
        return Resumed(result.pipeline, str(result.report), None if result.ok else result.summary())


class _BatchGates:
    """The runner's submit gate while batches run: a registry of each running batch's limiter.

    A create is paced by the limiter of its own batch (found by the job's pipeline id) and by
    no other, however the batches' runs overlap; any other job passes to the gate the runner
    had before. The first batch installs the registry, the last one to finish puts that gate
    back.
    """

    def __init__(self, settings: Settings, outer: SubmitGate | None) -> None:
        self.settings = settings
        self.outer = outer
        self.limiters: dict[str, list[RateLimiter]] = {}

    @classmethod
    @contextmanager
    def pacing(cls, engine: Engine, pipeline_id: str, limiter: RateLimiter) -> Iterator[None]:
        """Pace the batch's creates by `limiter` while inside."""
        runner = engine.runner
        gates = runner.submit_gate
        if not isinstance(gates, cls):
            gates = cls(engine.settings, gates)
            runner.submit_gate = gates
        gates.limiters.setdefault(pipeline_id, []).append(limiter)
        try:
            yield
        finally:
            mine = gates.limiters[pipeline_id]
            mine.remove(limiter)
            if not mine:
                del gates.limiters[pipeline_id]
            if not gates.limiters and runner.submit_gate is gates:
                runner.submit_gate = gates.outer

    @asynccontextmanager
    async def __call__(self, job: JobRecord) -> AsyncIterator[object]:
        limiters = self.limiters.get(job.pipeline_id or "")
        if limiters:  # the same batch run twice at once: its latest run's options
            key = limit_key(self.settings, job.provider, job.credential_id)
            async with limiters[-1].slot(key):
                yield None
        elif self.outer is not None:
            async with self.outer(job) as value:
                yield value
        else:
            yield None


def limit_key(settings: Settings, provider: str, credential_id: str | None = None) -> str:
    """The rate-limit key of the credential a job is created with: a pooled credential by its
    id, the environment's by a hash of its secret."""
    if credential_id is not None and credential_id != env_credential_id(provider):
        return credential_key(provider, credential_id)
    secret = getattr(settings, _CREDENTIALS.get(provider, ""), None)
    if secret is not None and hasattr(secret, "get_secret_value"):
        secret = secret.get_secret_value()
    return credential_key(provider, secret if isinstance(secret, str) else None)


class _Run:
    """One run of one batch: reserve in file order, then submit and track in parallel."""

    def __init__(
        self,
        engine: Engine,
        pipeline: PipelineRecord,
        rows: list[BatchRow],
        on_progress: ProgressCallback | None,
    ) -> None:
        self.engine = engine
        self.pipeline = pipeline
        self.rows = rows
        self.on_progress = on_progress
        self.folder = Path(pipeline.spec["folder"])
        self.attempts: dict[str, int] = dict(pipeline.state.get("attempts", {}))
        self.started_at = time.time()
        self.keys: set[str] = set()
        self.owner = owner_of(pipeline.spec)

    def steps(self) -> list[tuple[BatchRow, str]]:
        return [
            (row, f"row-{row.row}" + (f"-v{take}" if take > 1 else ""))
            for row in self.rows
            for take in range(1, row.n + 1)
        ]

    async def all(self, concurrency: int) -> list[RowResult]:
        """Reserve each step in file order (the budget goes to the first rows), driving each
        reserved job at once so the first create is not held up by the last reservation."""
        results: dict[str, RowResult] = {}
        limiter = anyio.CapacityLimiter(max(1, concurrency))

        async def one(row: BatchRow, name: str, job: JobRecord) -> None:
            async with limiter:
                results[name] = await self._drive(row, name, job)

        async with anyio.create_task_group() as group:
            for row, name in self.steps():
                reserved = await self._reserve(row, name)
                if isinstance(reserved, RowResult):
                    results[name] = reserved
                else:
                    self.keys.add(limit_key(self.engine.settings, reserved.provider))
                    group.start_soon(one, row, name, reserved)
            await self.engine.ledger.update_pipeline(
                self.pipeline.id, state={"attempts": self.attempts}
            )
        return [results[name] for _, name in self.steps()]

    async def _reserve(self, row: BatchRow, name: str) -> JobRecord | RowResult:
        """The step's job (found or inserted, its estimate reserved), or why it was skipped."""
        attempt = self.attempts.get(name, 1)
        label = name if attempt == 1 else f"{name}#{attempt}"
        step = Step(self.pipeline.id, label, self.pipeline.budget_usd)
        try:
            job = await self.engine.create(
                row.prompt,
                model=row.model,
                seconds=row.seconds,
                size=row.size,
                reference=Path(row.reference) if row.reference else None,
                submit=False,
                step=step,
                owner=self.owner,
            )
        except BudgetExceededError as exc:
            return self._result(row, name, None, "skipped: budget", str(exc))
        except SorakitError as exc:
            return self._result(row, name, None, "failed", str(exc))
        if job.status in (JobStatus.FAILED, JobStatus.CANCELLED) and (
            (job.completed_at or 0) < self.started_at
        ):
            self.attempts[name] = attempt + 1  # failed in an earlier run: this run retries it
            return await self._reserve(row, name)
        return job

    async def _drive(self, row: BatchRow, name: str, job: JobRecord) -> RowResult:
        """Submit (through the gate) and track one job; its trouble never stops the others."""
        try:
            for attempt in range(_SUBMIT_ROUNDS):
                try:
                    job = await self.engine.runner.submit(job)
                    break
                except TransientProviderError:
                    if attempt == _SUBMIT_ROUNDS - 1:
                        raise
                    job = await self.engine.ledger.get(job.id)
                    await anyio.sleep(2.0**attempt)
            job = await self.engine.wait(job.id, self.on_progress)
        except SorakitError as exc:
            job = await self.engine.ledger.get(job.id)
            # Info: the row's error reaches the user in the report (and the CLI's row line).
            logger.info("%s %s: %s", self.pipeline.id, name, exc)
            return self._result(row, name, job, "failed", str(exc))
        if job.status is not JobStatus.COMPLETED:
            return self._result(row, name, job, "failed", job.error_message or job.status.value)
        assert job.video_path is not None
        target = self.folder / f"{name}.mp4"
        await anyio.to_thread.run_sync(_copy, Path(job.video_path), target)
        return self._result(row, name, job, "completed", None, target)

    def _result(
        self,
        row: BatchRow,
        name: str,
        job: JobRecord | None,
        status: str,
        error: str | None,
        file: Path | None = None,
    ) -> RowResult:
        estimate = job.estimated_cost if job else row_estimate(self.engine, row)
        return RowResult(
            row=row.row,
            line=row.line,
            step=name,
            status=status,
            video_id=job.id if job else None,
            model=job.model if job else row.model,
            seconds=job.seconds if job else row.seconds,
            size=job.size if job else row.size,
            estimated_cost=estimate,
            cost=job.cost if job else None,
            file=str(file) if file else None,
            error=error,
        )


def _scoped(digest: str, owner: Owner | None) -> str:
    """A file's digest as one key's: the same file from another key is another key's batch
    (a project is no part of it: the same file under another project is the same batch)."""
    if owner is None or owner.key_id is None:
        return digest
    return hashlib.sha256(f"{owner.key_id}:{digest}".encode()).hexdigest()


def row_estimate(engine: Engine, row: BatchRow) -> float | None:
    """The list price of one take of a row, or None where it is unknown."""
    entry, _ = engine.catalog.route(row.model)
    caps = entry.capabilities
    mode = request_mode(first_frame=row.reference is not None)
    return caps.price(planned_size(row.size, entry, mode), row.seconds or caps.default_seconds)


def estimate_rows(engine: Engine, rows: list[BatchRow]) -> float | None:
    """The list price of every take of every row, or None where a price is unknown."""
    prices = [row_estimate(engine, row) for row in rows]
    if any(price is None for price in prices):
        return None
    return round(sum((price or 0.0) * row.n for price, row in zip(prices, rows, strict=True)), 6)


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and target.stat().st_size == source.stat().st_size:
        return
    shutil.copyfile(source, target)
