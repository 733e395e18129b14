"""`Engine`: plan a request, write it to the ledger, and drive it through its provider.

The library, the CLI and the server all stand on this one class. Creating a job never returns
before its ledger row is committed (with the fitted reference archived beside it), so whatever
happens next, `resume` can finish it.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from sorakit.catalog import Catalog, ModelEntry, build_catalog
from sorakit.catalog.sync import load_overrides
from sorakit.engine.assets import REFERENCE_IMAGE_PREFIX, asset_path, store_bytes
from sorakit.engine.callbacks import CallbackSigner
from sorakit.engine.characters import Characters
from sorakit.engine.endpoints import ENDPOINT_OPTION
from sorakit.engine.images import create_images, require_output, wait_images
from sorakit.engine.planning import (
    FitMode,
    ReferenceInput,
    check_prompt,
    plan_generate,
    resolve_seconds,
)
from sorakit.engine.routes import PipelineRoutes
from sorakit.engine.runner import FinishedListener, JobRunner, ProgressCallback
from sorakit.engine.uploads import probe_upload
from sorakit.engine.upstream import UpstreamPools
from sorakit.errors import (
    BudgetExceededError,
    ConfigurationError,
    InvalidRequestError,
    InvalidStateError,
    NotFoundError,
    ProviderError,
    SorakitError,
)
from sorakit.ledger import Budget, JobRecord, JobStatus, Ledger
from sorakit.providers.base import Character, Provider, SourceVideo
from sorakit.providers.registry import ProviderPool
from sorakit.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """Where a job sits in a pipeline; the step's name makes its creation idempotent."""

    pipeline_id: str
    name: str
    budget_usd: float | None = None
    """The pipeline's own cap, checked with the ledger-wide one."""

    @property
    def client_key(self) -> str:
        return f"{self.pipeline_id}/{self.name}"


@dataclass(frozen=True)
class Owner:
    """Who a job is made for: the gateway API key and its budget, and the project (budget
    scope) it is made under with that project's cap."""

    key_id: str | None
    """None: the keyless ledger's (an open gateway or studio), made under a project."""
    budget_usd: float | None = None
    sees_all: bool = False
    """The admin key: it may use every key's characters, as it sees every key's videos."""
    scope_id: str | None = None
    """The project the job counts against (`Ledger.create_scope`); None: no project."""
    scope_budget_usd: float | None = None
    """That project's cap (a scope's cap never changes: starting anew makes a new scope)."""


def new_video_id() -> str:
    """`video_` and 32 hex digits, the Videos API's id shape."""
    return f"video_{uuid.uuid4().hex}"


class Engine:
    """Plans, records, submits, tracks and archives video jobs."""

    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        *,
        catalog: Catalog | None = None,
        providers: ProviderPool | None = None,
        listeners: Iterable[FinishedListener] = (),
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.catalog = catalog or build_catalog(settings)
        self.providers = providers or ProviderPool(settings)
        self.upstream = UpstreamPools(settings, ledger, self.providers)
        self.callbacks = CallbackSigner.from_settings(settings)
        self.characters = Characters(ledger, self.providers, self.catalog)
        self.routes = PipelineRoutes(lambda: self.catalog, self.upstream, ledger)
        self.runner = JobRunner(
            ledger,
            self.providers,
            upstream=self.upstream,
            assets_dir=settings.assets_dir,
            retries=settings.transient_retries,
            max_poll_interval=settings.max_poll_interval,
            listeners=listeners,
            callback=self.callbacks.url if self.callbacks else None,
        )

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        providers: dict[str, Provider] | None = None,
        listeners: Iterable[FinishedListener] = (),
    ) -> Engine:
        """Open the ledger (migrating it) and build an engine on it."""
        ledger = await Ledger.open(settings.ledger_url)
        pool = ProviderPool(settings, instances=providers)
        engine = cls(settings, ledger, providers=pool, listeners=listeners)
        await load_overrides(engine.catalog, ledger)  # the admin API's aliases and prices
        return engine

    async def aclose(self) -> None:
        await self.runner.aclose()
        await self.providers.aclose()
        await self.ledger.close()

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # creating jobs

    async def create(
        self,
        prompt: str,
        *,
        model: str = "sora-2",
        seconds: int | str | None = None,
        size: str | None = None,
        reference: ReferenceInput | None = None,
        last_frame: ReferenceInput | None = None,
        reference_images: Sequence[ReferenceInput] = (),
        characters: Sequence[str] = (),
        snap: bool = False,
        fit: FitMode | None = "crop",
        client_key: str | None = None,
        submit: bool = True,
        step: Step | None = None,
        owner: Owner | None = None,
        extra_options: Mapping[str, Any] | None = None,
    ) -> JobRecord:
        """Plan and record a new video, then submit it (unless `submit=False`).

        `reference` is the first frame and `last_frame` the last (both fitted to the size);
        `reference_images` are subject or style images, for models that take them. A `step`
        makes the job part of a pipeline; asking again for the same step returns its job.
        `extra_options` are kept in the job's ledger `options` (e.g. `enhanced`: the prompt
        before enhancement).
        """
        client_key = step.client_key if step else client_key
        if client_key and (existing := await self.ledger.by_client_key(client_key)):
            return existing
        await self.characters.check_cast(characters, owner)  # another key's is not found
        entry, aliased, bound = await self.routes.route(model, step)  # a step: its pipeline's
        require_output(entry, model, "video")
        if aliased:  # an old app's Sora values are fitted to the model it is routed to
            snap, fit = True, fit or "crop"
            if (own := self.catalog.unaliased(model)) is not None:  # the defaults it expects
                seconds = seconds or own.capabilities.default_seconds
                if reference is None:  # with one, its shape picks the size
                    size = size or own.capabilities.default_size
        plan = await anyio.to_thread.run_sync(
            lambda: plan_generate(
                entry,
                prompt,
                seconds=seconds,
                size=size,
                reference=reference,
                last_frame=last_frame,
                reference_images=reference_images,
                characters=characters,
                snap=snap,
                fit=fit,
            )
        )
        changes = ([f"model {model} -> {entry.name} (alias)"] if aliased else []) + plan.changes
        options: dict[str, Any] = {**(extra_options or {}), **bound, "changes": changes}
        if plan.characters:
            options["characters"] = list(plan.characters)
        job_id = new_video_id()
        attachments: dict[str, tuple[bytes | None, str]] = {}
        for variant, image in (("reference", plan.reference), ("last_frame", plan.last_frame)):
            if image is not None:
                attachments[variant] = (image.data, image.media_type)
        for index, image in enumerate(plan.reference_images, start=1):
            attachments[f"{REFERENCE_IMAGE_PREFIX}{index}"] = (image.data, image.media_type)
        job = await self._insert(
            job_id,
            "generate",
            entry,
            model,
            plan.prompt,
            plan.seconds,
            plan.size,
            client_key=client_key,
            estimated_cost=plan.estimated_cost,
            options=options,
            attachments=attachments,
            step=step,
            owner=owner,
        )
        return await self.runner.submit(job) if submit else job

    # images: one job per image, planned and recorded in `sorakit.engine.images`
    create_image = create_images
    wait_images = wait_images

    async def remix(
        self,
        video_id: str,
        prompt: str,
        *,
        client_key: str | None = None,
        submit: bool = True,
        step: Step | None = None,
        owner: Owner | None = None,
    ) -> JobRecord:
        """A new video from a completed one, changed as the prompt says; same size and length."""
        return await self._derive(
            "remix",
            video_id,
            prompt,
            client_key=step.client_key if step else client_key,
            submit=submit,
            step=step,
            owner=owner,
        )

    async def edit(
        self,
        video: str | SourceVideo,
        prompt: str,
        *,
        model: str = "sora-2",
        client_key: str | None = None,
        submit: bool = True,
        owner: Owner | None = None,
    ) -> JobRecord:
        """Edit a completed video (by id) or an uploaded clip as the prompt says."""
        if isinstance(video, str):
            return await self._derive(
                "edit", video, prompt, client_key=client_key, submit=submit, owner=owner
            )
        if client_key and (existing := await self.ledger.by_client_key(client_key)):
            return existing
        check_prompt(prompt)
        entry = self.catalog.resolve(model)
        self._require(entry, "edit")
        size, seconds = await anyio.to_thread.run_sync(probe_upload, video.data)
        job = await self._insert(
            new_video_id(),
            "edit",
            entry,
            model,
            prompt,
            seconds,
            size,
            client_key=client_key,
            estimated_cost=entry.capabilities.price(size, seconds),
            options={},
            attachments={"source": (video.data, video.media_type)},
            owner=owner,
        )
        return await self.runner.submit(job) if submit else job

    async def extend(
        self,
        video_id: str,
        prompt: str,
        seconds: int | str,
        *,
        snap: bool = False,
        client_key: str | None = None,
        submit: bool = True,
        step: Step | None = None,
        owner: Owner | None = None,
    ) -> JobRecord:
        """Continue a completed video by `seconds`; the new video holds the stitched whole."""
        client_key = step.client_key if step else client_key
        if client_key and (existing := await self.ledger.by_client_key(client_key)):
            return existing
        check_prompt(prompt)
        source = await self._completed_source(video_id, "extend")
        entry = self.catalog.serving(source.provider, source.provider_model, source.model)
        caps = self._require(entry, "extension")
        changes: list[str] = []
        added = resolve_seconds(
            seconds, caps.for_extension(), entry.name, snap=snap, changes=changes
        )
        if caps.extension_sizes and source.size not in caps.extension_sizes:
            raise InvalidRequestError(
                f"{entry.name} extends only {', '.join(caps.extension_sizes)} videos; "
                f"{source.id} is {source.size}.",
                param="video",
            )
        chain = await self._extension_count(source)
        if chain >= caps.max_extensions:
            raise InvalidRequestError(
                f"Video {source.id} has been extended {chain} times; the maximum is "
                f"{caps.max_extensions}.",
                param="video",
            )
        total = float(source.total_seconds) + added
        if total > caps.max_total_seconds:
            raise InvalidRequestError(
                f"Extending {source.total_seconds} s by {added} s gives {total:g} s; "
                f"{entry.name} videos can grow to at most {caps.max_total_seconds} s.",
                param="seconds",
            )
        job = await self._insert(
            new_video_id(),
            "extend",
            entry,
            source.model,
            prompt,
            added,
            source.size,
            client_key=client_key,
            estimated_cost=caps.price(source.size, added),
            options={"changes": changes},
            source=source,
            step=step,
            owner=owner,
        )
        return await self.runner.submit(job) if submit else job

    async def _derive(
        self,
        kind: str,
        video_id: str,
        prompt: str,
        *,
        client_key: str | None,
        submit: bool,
        step: Step | None = None,
        owner: Owner | None = None,
    ) -> JobRecord:
        if client_key and (existing := await self.ledger.by_client_key(client_key)):
            return existing
        check_prompt(prompt)
        source = await self._completed_source(video_id, kind)
        entry = self.catalog.serving(source.provider, source.provider_model, source.model)
        self._require(entry, kind)
        seconds = int(float(source.total_seconds))
        job = await self._insert(
            new_video_id(),
            kind,
            entry,
            source.model,
            prompt,
            seconds,
            source.size,
            client_key=client_key,
            estimated_cost=entry.capabilities.price(source.size, seconds),
            options={},
            source=source,
            step=step,
            owner=owner,
        )
        return await self.runner.submit(job) if submit else job

    async def _completed_source(self, video_id: str, kind: str) -> JobRecord:
        source = await self.ledger.get(video_id)
        if source.kind == "image":
            raise NotFoundError(
                f"No video found with id '{video_id}'; it is an image.", param="video_id"
            )
        if source.status is not JobStatus.COMPLETED:
            raise InvalidRequestError(
                f"Video {source.id} is {source.status.value}; only a completed video can be "
                f"used for {'an' if kind[0] in 'aeiou' else 'a'} {kind}.",
                param="video_id" if kind == "remix" else "video",
            )
        return source

    @staticmethod
    def _require(entry: ModelEntry, capability: str) -> Any:
        caps = entry.capabilities
        if not getattr(caps, capability):
            noun = {"remix": "remixes", "edit": "edits", "extension": "extensions"}[capability]
            raise InvalidRequestError(f"{entry.name} does not support {noun}.", param="model")
        return caps

    async def _extension_count(self, job: JobRecord) -> int:
        count = 0
        while job.kind == "extend" and job.source_id:
            count += 1
            job = await self.ledger.get(job.source_id)
        return count

    async def _insert(
        self,
        job_id: str,
        kind: str,
        entry: ModelEntry,
        model: str,
        prompt: str,
        seconds: int,
        size: str,
        *,
        client_key: str | None,
        estimated_cost: float | None,
        options: dict[str, Any],
        source: JobRecord | None = None,
        attachments: dict[str, tuple[bytes | None, str]] | None = None,
        step: Step | None = None,
        owner: Owner | None = None,
    ) -> JobRecord:
        """Archive the inputs, then commit the row: nothing is sent before both are on disk.

        The ledger-wide budget and the pipeline's are checked in the same transaction.
        """
        provider = source.provider if source else entry.provider
        if ENDPOINT_OPTION not in options:  # a pipeline's step comes bound to its server
            options = {**options, **await self.upstream.bind(provider, source)}  # refused: no row
        budgets = self._budgets(step, owner)
        if estimated_cost is None and budgets:
            raise BudgetExceededError(
                f"The price of {entry.name} at {size} is unknown "
                f"({entry.capabilities.price_hint(entry.name, size)}), so {budgets[0].label} of "
                f"${budgets[0].cap:.2f} cannot be kept; nothing was sent.",
                param="model",
            )
        files = []
        for variant, (data, media_type) in (attachments or {}).items():
            if data is not None:
                path = asset_path(self.settings.assets_dir, job_id, variant)
                files.append((variant, await store_bytes(data, path, media_type)))
        try:
            job = await self.ledger.create_job(
                id=job_id,
                kind=kind,
                model=model,
                provider=provider,
                provider_model=source.provider_model if source else entry.provider_model,
                prompt=prompt,
                seconds=seconds,
                size=size,
                idempotency_key=f"sorakit-{uuid.uuid4().hex}",
                client_key=client_key or None,  # an empty Idempotency-Key is no key
                source_id=source.id if source else None,
                estimated_cost=estimated_cost,
                expected_render_seconds=entry.capabilities.expected_render_seconds(size, seconds),
                options=options,
                pipeline_id=step.pipeline_id if step else None,
                pipeline_step=step.name if step else None,
                owner=owner.key_id if owner else None,
                scope_id=owner.scope_id if owner else None,
                budgets=budgets,
                files=[
                    (variant, str(stored.path), stored.size, stored.sha256, stored.media_type)
                    for variant, stored in files
                ],
            )
        except Exception:
            # No row, so nothing may point at these files: a refused budget leaves no trace.
            folder = self.settings.assets_dir / job_id
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(folder, ignore_errors=True))
            raise
        return job

    def _budgets(self, step: Step | None, owner: Owner | None = None) -> list[Budget]:
        budgets = []
        if self.settings.budget_usd is not None:
            budgets.append(Budget(self.settings.budget_usd))
        if step is not None and step.budget_usd is not None:
            budgets.append(Budget(step.budget_usd, step.pipeline_id))
        if owner is not None and owner.budget_usd is not None and owner.key_id is not None:
            budgets.append(Budget(owner.budget_usd, owner=owner.key_id))
        if owner is not None and owner.scope_id and owner.scope_budget_usd is not None:
            budgets.append(Budget(owner.scope_budget_usd, scope_id=owner.scope_id))
        return budgets

    # driving jobs

    async def wait(self, video_id: str, on_progress: ProgressCallback | None = None) -> JobRecord:
        """Track a job to its end and archive its files; returns the finished record."""
        return await self.runner.track(await self.ledger.get(video_id), on_progress)

    async def resume(
        self, on_progress: ProgressCallback | None = None, *, concurrency: int = 8
    ) -> list[JobRecord]:
        """Finish every unfinished job in the ledger, without creating any job twice."""
        jobs = await self.ledger.unfinished()
        results: dict[str, JobRecord] = {}
        limiter = anyio.CapacityLimiter(concurrency)

        async def one(job: JobRecord) -> None:
            async with limiter:
                try:
                    results[job.id] = await self.runner.track(job, on_progress)
                except SorakitError as exc:  # one job's trouble never stops the others
                    logger.warning("job %s could not be resumed: %s", job.id, exc)
                    results[job.id] = await self.ledger.get(job.id)

        async with anyio.create_task_group() as group:
            for job in jobs:
                group.start_soon(one, job)
        return [results[job.id] for job in jobs]

    # reading and removing

    async def get(self, video_id: str) -> JobRecord:
        return await self.ledger.get(video_id)

    async def cancel(self, video_id: str) -> JobRecord:
        """Stop a job that has not finished; the provider is asked to drop it where it can."""
        job = await self.ledger.get(video_id)
        if job.status.finished:
            raise InvalidStateError(f"Video {job.id} is already {job.status.value}.")
        if job.remote_id:
            try:  # best effort: the job is stopped here whatever the provider says
                await (await self.upstream.provider_for(job)).delete(job.remote_id)
            except (ProviderError, InvalidStateError) as exc:
                logger.warning("%s may still render at %s: %s", job.id, job.provider, exc)
        return await self.ledger.update(
            job.id, status=JobStatus.CANCELLED, completed_at=time.time(), detail="cancelled"
        )

    async def delete(
        self, video_id: str, *, remote: bool = True, remote_required: bool = False
    ) -> JobRecord:
        """Delete a finished video, its files and (with `remote`) the provider's copy; a copy that
        cannot be deleted is logged, or with `remote_required` raised with nothing deleted."""
        job = await self.ledger.get(video_id)
        if not job.status.finished:
            raise InvalidRequestError(
                f"Video {job.id} is {job.status.value}; only completed or failed videos can be "
                "deleted.",
                param="video_id",
            )
        if remote and job.remote_id:
            try:
                await (await self.upstream.provider_for(job)).delete(job.remote_id)
            except (ProviderError, ConfigurationError) as exc:
                if remote_required:
                    raise
                logger.warning("%s's copy at %s was NOT deleted: %s", job.id, job.provider, exc)
        folder = self.settings.assets_dir / job.id
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(folder, ignore_errors=True))
        await self.ledger.delete_job(job.id)
        return job

    async def create_character(
        self,
        name: str,
        video: SourceVideo,
        *,
        owner: Owner | None = None,
        client_key: str | None = None,
    ) -> Character:
        """Make a character (at the provider that serves the Sora models), owned by `owner`."""
        return await self.characters.create(name, video, owner=owner, client_key=client_key)

    async def get_character(self, character_id: str, *, owner: Owner | None = None) -> Character:
        """A character `owner` may use (any, without one); else not found."""
        return await self.characters.get(character_id, owner=owner)
