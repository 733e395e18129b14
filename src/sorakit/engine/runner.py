"""Driving one job through its provider: submit, track, fetch; each step safe to repeat.

The ledger row exists before `submit` is called and records every attempt, so after a crash at
any instant the same steps run again without paying twice:

- `submit` on a job whose earlier attempt may have reached the provider first asks the provider
  to `find` it (the create's answer may have been lost); only if nothing is found is the create
  re-sent, with the same idempotency key.
- `track` polls on a `PollSchedule`, honours the server's hints and Retry-After, and retries
  transient errors a bounded number of times in a row.
- `fetch` archives each missing variant; a truncated or damaged download is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TypeVar

import anyio

from sorakit.engine.assets import REFERENCE_IMAGE_PREFIX, asset_path, png_size, store_download
from sorakit.engine.polling import PollSchedule
from sorakit.engine.upstream import UpstreamPools
from sorakit.errors import (
    ConfigurationError,
    InvalidStateError,
    JobTimeoutError,
    NotFoundError,
    ProviderAuthError,
    RateLimitedError,
    SorakitError,
    TransientProviderError,
)
from sorakit.ledger import JobRecord, JobStatus, Ledger
from sorakit.ledger.leases import LEASE_SECONDS, new_worker_id
from sorakit.providers.base import (
    ContentVariant,
    Provider,
    ReferenceImage,
    RemoteJob,
    SourceVideo,
    SubmitRequest,
)
from sorakit.providers.registry import ProviderPool
from sorakit.wire.videos import CONTENT_TYPES, VideoContentVariant

logger = logging.getLogger(__name__)

T = TypeVar("T")
ProgressCallback = Callable[[JobRecord], Awaitable[None] | None]
FinishedListener = Callable[[JobRecord], Awaitable[None]]
SubmitGate = Callable[[JobRecord], AbstractAsyncContextManager[object]]
"""Wraps each create sent to a provider, retries included (a rate limiter's slot)."""

_REMOTE_STATUS = {
    "queued": JobStatus.QUEUED,
    "in_progress": JobStatus.IN_PROGRESS,
    "completed": JobStatus.FETCHING,
    "failed": JobStatus.FAILED,
}
VARIANTS: tuple[VideoContentVariant, ...] = ("video", "thumbnail", "spritesheet")
FOLLOW_SECONDS = 1.0
"""How often a job another worker drives is read back from the ledger."""


def backoff_delay(attempt: int, error: TransientProviderError) -> float:
    """The server's Retry-After when it sent one, else exponential backoff with jitter."""
    if error.retry_after is not None and error.retry_after >= 0:
        return min(error.retry_after, 120.0)
    return min(0.25 * 2.0**attempt, 8.0) * random.uniform(0.75, 1.0)


class JobRunner:
    """Submit, track and fetch jobs recorded in a ledger."""

    def __init__(
        self,
        ledger: Ledger,
        providers: ProviderPool,
        *,
        upstream: UpstreamPools,
        assets_dir: Path,
        retries: int = 6,
        max_poll_interval: float = 300.0,
        listeners: Iterable[FinishedListener] = (),
        callback: Callable[[str], str] | None = None,
    ) -> None:
        self.ledger = ledger
        self.providers = providers
        self.upstream = upstream
        self.assets_dir = assets_dir
        self.retries = retries
        self.max_poll_interval = max_poll_interval
        self.listeners = list(listeners)
        self._callback = callback
        self._wakeups: dict[str, anyio.Event] = {}
        self.worker = new_worker_id()
        self.lease_seconds = LEASE_SECONDS
        self._held: dict[str, int] = {}
        self._heartbeat: asyncio.Task[None] | None = None
        self.submit_gate: SubmitGate | None = None
        """Entered around every `provider.submit`, so a limiter sees each attempt and its 429."""

    async def _claim(self, job_id: str) -> bool:
        """Take the job's lease (re-entrant within this runner)."""
        if not await self.ledger.claim(job_id, self.worker, self.lease_seconds):
            return False
        self._held[job_id] = self._held.get(job_id, 0) + 1
        self.ledger.hold(job_id)
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.get_running_loop().create_task(self._beat())
        return True

    async def _release(self, job_id: str) -> None:
        count = self._held.get(job_id, 0) - 1
        if count > 0:
            self._held[job_id] = count
            return
        self._held.pop(job_id, None)
        self.ledger.release_hold(job_id)
        await self.ledger.release(job_id, self.worker)

    async def _beat(self) -> None:
        """Renew every lease this runner holds, in one statement, while it holds any."""
        while self._held:
            await asyncio.sleep(self.lease_seconds / 3)
            if self._held:
                try:
                    await self.ledger.renew(self.worker, self.lease_seconds)
                except Exception:  # a missed beat is retried; the lease has slack
                    logger.warning("could not renew job leases", exc_info=True)

    async def aclose(self) -> None:
        """Stop the lease heartbeat."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat

    def callback_url(self, job: JobRecord) -> str | None:
        """The URL a provider may call when the job finishes, where this runner can be reached."""
        return self._callback(job.id) if self._callback else None

    def wake(self, job_id: str) -> bool:
        """Ask the job's tracker to check the job now (a provider said it finished)."""
        event = self._wakeups.get(job_id)
        if event is None:
            return False
        event.set()
        return True

    async def _pause(self, job_id: str, delay: float) -> None:
        """Sleep until the next status call, or until `wake` is called for the job."""
        event = self._wakeups[job_id] = anyio.Event()
        try:
            with anyio.move_on_after(delay):
                await event.wait()
        finally:
            if self._wakeups.get(job_id) is event:
                del self._wakeups[job_id]

    async def _retrying(self, what: str, job: JobRecord, call: Callable[[], Awaitable[T]]) -> T:
        """Run `call`, retrying transient provider errors up to `retries` times in a row.

        A 429 also cools down the job's upstream credential, so new jobs go elsewhere meanwhile.
        """
        attempt = 0
        while True:
            try:
                return await call()
            except TransientProviderError as exc:
                if isinstance(exc, RateLimitedError) and what != "submit":
                    # (a create's 429 was already counted where its credential is chosen)
                    await self.upstream.rate_limited(job, exc)
                if attempt >= self.retries:
                    raise
                delay = backoff_delay(attempt, exc)
                attempt += 1
                logger.info("%s for %s: %s; retry %d in %.2fs", what, job.id, exc, attempt, delay)
                await anyio.sleep(delay)

    async def submit_request(self, job: JobRecord, source_remote_id: str | None) -> SubmitRequest:
        """The provider request a ledger row stands for (its input files are read from the archive)."""
        frames: dict[str, ReferenceImage] = {}
        subjects: list[ReferenceImage] = []
        for variant, asset in sorted(job.assets.items(), key=lambda item: _input_order(item[0])):
            if variant in ("reference", "last_frame") or variant.startswith(REFERENCE_IMAGE_PREFIX):
                raw = await anyio.Path(asset.path).read_bytes()
                width, height = png_size(raw)
                image = ReferenceImage(raw, asset.media_type or "image/png", width, height)
                if variant.startswith(REFERENCE_IMAGE_PREFIX):
                    subjects.append(image)
                else:
                    frames[variant] = image
        mask = None
        if "mask" in job.assets:  # an image edit's
            raw = await anyio.Path(job.assets["mask"].path).read_bytes()
            mask = ReferenceImage(raw, "image/png", *png_size(raw))
        source_video = None
        if "source" in job.assets:
            source_video = SourceVideo(await anyio.Path(job.assets["source"].path).read_bytes())
        return SubmitRequest(
            kind=job.kind,  # type: ignore[arg-type]
            model=job.provider_model,
            prompt=job.prompt,
            seconds=job.seconds,
            size=job.size,
            idempotency_key=job.idempotency_key,
            reference=frames.get("reference"),
            last_frame=frames.get("last_frame"),
            reference_images=tuple(subjects),
            source_id=source_remote_id,
            source_video=source_video,
            characters=tuple(job.options.get("characters", ())),
            mask=mask,
            output_format=str(job.options.get("output_format", "png")),
            callback_url=self.callback_url(job),
        )

    async def submit(self, job: JobRecord) -> JobRecord:
        """Create the remote job once; a job an earlier attempt already created is found, not re-made.

        Only the worker holding the job's lease submits it; for any other this returns the job
        as it is (its holder submits it).
        """
        if job.status is not JobStatus.PENDING:
            return job
        if not await self._claim(job.id):
            return job
        try:
            return await self._submit(job)
        finally:
            await self._release(job.id)

    async def _submit(self, job: JobRecord) -> JobRecord:
        if job.status is not JobStatus.PENDING:
            return job
        source_remote = pinned = None
        if job.source_id:
            source = await self.ledger.get(job.source_id)
            source_remote = source.remote_id
            pinned = source.credential_id  # the source exists only on the account that made it
        request = await self.submit_request(job, source_remote)
        creation = _Creation(self, job, request, pinned=pinned)
        try:
            remote = await self._retrying("submit", job, creation.attempt)
        except SorakitError as exc:  # a transient or local (missing key) one leaves it pending
            if not isinstance(exc, (TransientProviderError, ConfigurationError)):
                await self._fail(job, getattr(exc, "code", None) or "rejected", exc.message)
            raise
        job, provider = creation.job, creation.provider
        assert provider is not None  # every attempt picks one
        expected = (
            provider.expected_render_seconds(request)
            or remote.expected_seconds
            or job.expected_render_seconds
        )
        return await self._record(
            job,
            remote,
            remote_id=remote.id,
            submitted_at=time.time(),
            expected_render_seconds=expected,
        )

    async def _send(self, provider: Provider, request: SubmitRequest, job: JobRecord) -> RemoteJob:
        if self.submit_gate is None:
            return await provider.submit(request)
        async with self.submit_gate(job):
            return await provider.submit(request)

    async def track(self, job: JobRecord, on_progress: ProgressCallback | None = None) -> JobRecord:
        """Poll until the provider reports a finish, then archive the files.

        A job another worker drives is followed in the ledger instead, and taken over if that
        worker's lease runs out.
        """
        if job.status.finished:
            return job
        if not await self._claim(job.id):
            return await self._follow(job, on_progress)
        try:
            return await self._drive(await self.ledger.get(job.id), on_progress)
        finally:
            await self._release(job.id)

    async def _follow(self, job: JobRecord, on_progress: ProgressCallback | None) -> JobRecord:
        """Watch a job another worker drives; take it over if its lease runs out."""
        await _notify(on_progress, job)
        while True:
            await anyio.sleep(FOLLOW_SECONDS)
            job = await self.ledger.get(job.id)
            await _notify(on_progress, job)
            if job.status.finished:
                return job
            if await self._claim(job.id):
                logger.info("job %s: its worker's lease ran out; taking over", job.id)
                try:
                    return await self._drive(await self.ledger.get(job.id), on_progress)
                finally:
                    await self._release(job.id)

    async def _drive(self, job: JobRecord, on_progress: ProgressCallback | None) -> JobRecord:
        job = await self._submit(job)
        provider = await self.upstream.provider_for(job)
        schedule = PollSchedule(
            expected_seconds=job.expected_render_seconds or 60.0,
            started_at=job.submitted_at or job.created_at,
            max_interval=self.max_poll_interval,
        )
        schedule.observe(time.time(), job.progress)
        deadline = schedule.started_at + schedule.deadline_seconds
        hint: float | None = None
        await _notify(on_progress, job)
        while job.status in (JobStatus.QUEUED, JobStatus.IN_PROGRESS):
            now = time.time()
            if now > deadline:
                raise JobTimeoutError(job.id, now - schedule.started_at)
            await self._pause(job.id, schedule.next_delay(now, hint))
            assert job.remote_id is not None
            remote_id = job.remote_id
            try:
                remote = await self._retrying(
                    "status", job, functools.partial(provider.retrieve, remote_id)
                )
            except NotFoundError:
                job = await self._fail(job, "not_found", "the provider no longer knows this job")
                break
            hint = remote.poll_after
            if remote.expected_seconds:
                schedule.expected_seconds = remote.expected_seconds
            schedule.observe(time.time(), remote.progress)
            job = await self._record(job, remote)
            await _notify(on_progress, job)
        if job.status is JobStatus.FETCHING:
            job = await self.fetch(job, provider)
            await _notify(on_progress, job)
        return job

    async def fetch(self, job: JobRecord, provider: Provider | None = None) -> JobRecord:
        """Archive every variant the provider serves that is not on disk yet, then complete."""
        provider = provider or await self.upstream.provider_for(job)
        assert job.remote_id is not None
        remote_id = job.remote_id
        wanted = job.options.get("variants") or VARIANTS  # pipelines' segments need only the video
        # An image job has one file, its image; a video job the variants its provider serves.
        variants: tuple[ContentVariant, ...] = ("image",) if job.kind == "image" else VARIANTS
        for variant in variants:
            if variant in job.assets:
                continue
            if variant != "image" and (variant not in provider.variants or variant not in wanted):
                continue
            destination = asset_path(self.assets_dir, job.id, variant, job.options)

            async def download(v: ContentVariant = variant, d: Any = destination) -> Any:
                async with provider.download(remote_id, v) as stream:
                    return await store_download(stream, d)

            stored = await self._retrying(f"download {variant}", job, download)
            await self.ledger.add_asset(
                job.id,
                variant,
                str(stored.path),
                stored.size,
                stored.sha256,
                CONTENT_TYPES.get(variant, stored.media_type),
            )
        job = await self.ledger.update(
            job.id,
            status=JobStatus.COMPLETED,
            progress=100,
            completed_at=time.time(),
            cost=job.cost if job.cost is not None else job.estimated_cost,
            detail="archived",
        )
        await self._finished(job)
        return job

    async def _record(self, job: JobRecord, remote: RemoteJob, **extra: Any) -> JobRecord:
        """Store what the provider reported, writing only what changed."""
        status = _REMOTE_STATUS.get(remote.status)
        if status is None:
            raise InvalidStateError(f"the provider reported an unknown status {remote.status!r}")
        if status is JobStatus.FAILED:
            if remote.cost is not None:  # what a provider bills for a failure (often 0)
                extra = {**extra, "cost": remote.cost}
            return await self._fail(
                job, remote.error_code or "failed", remote.error_message, **extra
            )
        fields: dict[str, Any] = dict(extra)
        progress = 100 if status is JobStatus.FETCHING else remote.progress
        if status is not job.status:
            fields["status"] = status
        if progress is not None and progress != job.progress:
            fields["progress"] = progress
        if remote.seconds and remote.seconds != job.video_seconds:
            fields["video_seconds"] = remote.seconds
        if remote.cost is not None:
            fields["cost"] = remote.cost
        return await self.ledger.update(job.id, **fields) if fields else job

    async def _fail(
        self, job: JobRecord, code: str, message: str | None, **extra: Any
    ) -> JobRecord:
        job = await self.ledger.update(
            job.id,
            status=JobStatus.FAILED,
            error_code=code,
            error_message=message or "the provider gave no reason",
            completed_at=time.time(),
            detail=f"{code}: {message}",
            **extra,
        )
        await self._finished(job)
        return job

    async def _finished(self, job: JobRecord) -> None:
        for listener in self.listeners:
            try:
                await listener(job)
            except Exception:  # a listener (webhook sender) must never break a job
                logger.exception("listener failed for job %s", job.id)


class _Creation:
    """One job's create attempts, and which credential they may go to.

    After an attempt that may have reached the provider (a timeout, a 5xx, or one made by an
    earlier process) the job may exist on its credential's account, so it stays there, where
    `find` can recognise it. Only definite refusals (429, 401/403) move it to another credential.
    """

    def __init__(
        self, runner: JobRunner, job: JobRecord, request: SubmitRequest, *, pinned: str | None
    ) -> None:
        self.runner = runner
        self.upstream = runner.upstream
        self.job = job
        self.request = request
        self.pinned = pinned
        self.ambiguous = job.submit_attempts > 0
        self.refused: set[str] = set()
        self.provider: Provider | None = None

    async def attempt(self) -> RemoteJob:
        """Create the remote job (or find the one an earlier attempt made)."""
        while True:
            if not self.ambiguous:
                self.job = await self.upstream.assign(
                    self.job, pinned=self.pinned, avoid=self.refused
                )
                self.provider = await self.upstream.provider_for(self.job)
            else:
                self.provider = await self.upstream.provider_for(self.job)
                found = await self._earlier()
                if found is not None:
                    return found
            job = self.job = await self.runner.ledger.update(
                self.job.id, submit_attempts=self.job.submit_attempts + 1
            )
            try:
                remote = await self.runner._send(self.provider, self.request, job)
            except RateLimitedError as exc:
                await self.upstream.rate_limited(job, exc)
                if self.ambiguous or not await self.upstream.has_ready(job, pinned=self.pinned):
                    raise  # wait out the Retry-After, then try again
                continue  # another credential is ready now
            except ProviderAuthError as exc:
                await self.upstream.auth_failed(job, exc)
                if self.ambiguous or self.pinned or job.credential_id is None:
                    raise
                self.refused.add(job.credential_id)
                continue  # on the next credential; `assign` says when none is left
            except TransientProviderError:
                self.ambiguous = True
                raise
            await self.upstream.used(job)
            return remote

    async def _earlier(self) -> RemoteJob | None:
        job = self.job
        if job.submit_attempts == 0 or self.provider is None:
            return None
        owned = await self.runner.ledger.known_remote_ids(job.provider)
        found = await self.provider.find(self.request, since=job.created_at, exclude=owned)
        if found is not None:
            logger.info("job %s: found remote job %s of an earlier attempt", job.id, found.id)
        return found


def _input_order(variant: str) -> tuple[str, int]:
    """`reference_image_2` before `reference_image_10`."""
    stem, _, number = variant.rpartition("_")
    return (stem, int(number)) if number.isdigit() else (variant, 0)


async def _notify(callback: ProgressCallback | None, job: JobRecord) -> None:
    if callback is None:
        return
    result = callback(job)
    if inspect.isawaitable(result):
        await result
