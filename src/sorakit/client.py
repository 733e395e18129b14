"""`AsyncClient` and its thin blocking facade `Client`: the library's front door.

Without a base URL and without credentials, jobs run on the built-in simulator, in-process, and
every file lands under `SORAKIT_HOME`. With `base_url` (or `OPENAI_BASE_URL`), the Sora models
are sent to that `/v1/videos` server instead. Either way every job is in the local ledger first,
so `resume()` finishes what an interrupted program left.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal
from pydantic import SecretStr

from sorakit.catalog import ModelEntry
from sorakit.engine import Engine, FitMode, ProgressCallback, ReferenceInput
from sorakit.errors import job_failed
from sorakit.ledger import JobRecord, JobStatus
from sorakit.providers.base import Provider, SourceVideo
from sorakit.settings import Settings, get_settings

if TYPE_CHECKING:  # the pipelines load only when used
    from sorakit.pipelines.long import Continuity, LongVideo
    from sorakit.pipelines.planner import Plan, PlannerMode
    from sorakit.pipelines.remixes import RemixChain
    from sorakit.pipelines.resume import Resumed
    from sorakit.pipelines.shots import StoryboardVideo
    from sorakit.pipelines.variations import Takes

P = ParamSpec("P")
T = TypeVar("T")


def raise_for_failure(job: JobRecord) -> JobRecord:
    """Raise `JobFailedError` (or `ModerationBlockedError`) for a failed job; else return it."""
    if job.status is JobStatus.FAILED:
        raise job_failed(job.id, job.error_code, job.error_message)
    return job


class AsyncClient:
    """Generate, remix, extend and edit videos, make images; track, resume and list jobs."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        home: str | Path | None = None,
        settings: Settings | None = None,
        providers: dict[str, Provider] | None = None,
    ) -> None:
        overrides: dict[str, Any] = {}
        if base_url is not None:
            overrides["openai_base_url"] = base_url
        if api_key is not None:
            overrides["openai_api_key"] = SecretStr(api_key)
        if home is not None:
            overrides["home"] = Path(home)
        base = settings or get_settings()
        self.settings = base.model_copy(update=overrides) if overrides else base
        self._providers = providers
        self.api_key_origin = "api_key" if api_key is not None else None
        """How `api_key` was handed in, for messages (the CLI says `--api-key`)."""
        self._engine: Engine | None = None
        self._opening = anyio.Lock()

    async def engine(self) -> Engine:
        """The engine, opened on first use."""
        async with self._opening:  # concurrent first calls open one engine
            if self._engine is None:
                self._engine = await Engine.open(self.settings, providers=self._providers)
                if self.api_key_origin is not None:  # not in the environment: kept sealed or asked
                    self._engine.upstream.given_keys["openai"] = self.api_key_origin
        return self._engine

    async def aclose(self) -> None:
        if self._engine is not None:
            await self._engine.aclose()
            self._engine = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def generate(
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
        fit: FitMode = "crop",
        enhance: str | None = None,
        wait: bool = True,
        on_progress: ProgressCallback | None = None,
    ) -> JobRecord:
        """Make a video; with `wait` (the default) return once its files are archived.

        `reference` is the first frame and `last_frame` the last, both fitted to the size;
        `reference_images` are subject or style images (see `sorakit models` for who takes them).
        `enhance` (`director`, `pixar`, `clean`) rewrites the prompt with the chat model first;
        the job's `options["enhanced"]` keeps the original and, if it failed, why (`note`).
        """
        engine = await self.engine()
        extra: dict[str, Any] = {}
        if enhance is not None:
            from sorakit.pipelines.enhance import enhance_prompt

            result = await enhance_prompt(prompt, enhance, settings=self.settings)
            extra["enhanced"] = {
                "original": result.original,
                "style": result.style,
                "model": result.model,
                "note": result.note,
            }
            prompt = result.enhanced
        job = await engine.create(
            prompt,
            model=model,
            seconds=seconds,
            size=size,
            reference=reference,
            last_frame=last_frame,
            reference_images=reference_images,
            characters=characters,
            snap=snap,
            fit=fit,
            extra_options=extra,
        )
        return await self.wait(job.id, on_progress) if wait else job

    async def remix(
        self,
        video_id: str,
        prompt: str,
        *,
        wait: bool = True,
        on_progress: ProgressCallback | None = None,
    ) -> JobRecord:
        """A new video from a completed one, changed as the prompt says."""
        job = await (await self.engine()).remix(video_id, prompt)
        return await self.wait(job.id, on_progress) if wait else job

    async def extend(
        self,
        video_id: str,
        prompt: str,
        seconds: int | str,
        *,
        snap: bool = False,
        wait: bool = True,
        on_progress: ProgressCallback | None = None,
    ) -> JobRecord:
        """Continue a completed video by `seconds`; the result holds the stitched whole."""
        job = await (await self.engine()).extend(video_id, prompt, seconds, snap=snap)
        return await self.wait(job.id, on_progress) if wait else job

    async def edit(
        self,
        video: str | Path,
        prompt: str,
        *,
        wait: bool = True,
        on_progress: ProgressCallback | None = None,
    ) -> JobRecord:
        """Edit a completed video (by id) or a local clip (by path) as the prompt says."""
        engine = await self.engine()
        source: str | SourceVideo = (
            video
            if isinstance(video, str)
            else SourceVideo(await anyio.Path(video).read_bytes(), Path(video).name)
        )
        job = await engine.edit(source, prompt)
        return await self.wait(job.id, on_progress) if wait else job

    async def wait(self, video_id: str, on_progress: ProgressCallback | None = None) -> JobRecord:
        """Track a job to its end; raises `JobFailedError` if the provider reports a failure."""
        return raise_for_failure(await (await self.engine()).wait(video_id, on_progress))

    async def get(self, video_id: str) -> JobRecord:
        """A job from the ledger."""
        return await (await self.engine()).get(video_id)

    async def jobs(
        self, *, limit: int = 20, after: str | None = None, order: str = "desc"
    ) -> list[JobRecord]:
        """Jobs from the ledger, newest first."""
        jobs, _ = await (await self.engine()).ledger.list_jobs(
            after=after, limit=limit, order=order
        )
        return jobs

    async def resume(self, on_progress: ProgressCallback | None = None) -> list[JobRecord]:
        """Finish every unfinished job in the ledger, creating none twice."""
        return await (await self.engine()).resume(on_progress)

    async def resume_pipelines(self, on_progress: ProgressCallback | None = None) -> list[Resumed]:
        """Continue every unfinished long video from its last finished segment."""
        from sorakit.pipelines.resume import resume_pipelines

        return await resume_pipelines(await self.engine(), on_progress)

    async def long(
        self,
        prompt: str,
        seconds: int,
        *,
        model: str = "sora-2",
        size: str | None = None,
        segments: int | None = None,
        mode: Continuity = "chain",
        crossfade: float = 0.0,
        reference: str | Path | None = None,
        planner: PlannerMode | None = None,
        plan: str | Path | None = None,
        budget_usd: float | None = None,
        out: str | Path | None = None,
        enhance: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> LongVideo:
        """A video of `seconds` made of planned segments with continuity, stitched into one.

        `mode`: `chain` (each segment starts on the previous one's last frame), `extend` (the
        model's own extension) or `keyframes` (a start image per segment, rendered in parallel).
        `plan` is a saved plan (see `plan_long`) to use instead of planning.
        """
        from sorakit.pipelines.long import LongRequest, LongVideos

        request = LongRequest(
            prompt,
            seconds,
            model=model,
            size=size,
            segments=segments,
            mode=mode,
            crossfade=crossfade,
            reference=str(Path(reference).resolve()) if reference else None,
            planner=planner,
            plan_file=str(Path(plan).resolve()) if plan else None,
            budget_usd=budget_usd,
            out=str(out) if out else None,
            enhance=enhance,
        )
        return await LongVideos(await self.engine()).generate(request, on_progress)

    async def storyboard(
        self,
        storyboard: str | Path,
        *,
        model: str = "sora-2",
        size: str | None = None,
        enhance: str | None = None,
        budget_usd: float | None = None,
        out: str | Path | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> StoryboardVideo:
        """A storyboard (a file, or `[5s] shot … [8s] shot …` text) rendered, trimmed and joined."""
        from sorakit.pipelines.shots import StoryboardRequest, Storyboards

        source = str(Path(storyboard).resolve()) if isinstance(storyboard, Path) else storyboard
        request = StoryboardRequest(
            source,
            model=model,
            size=size,
            enhance=enhance,
            budget_usd=budget_usd,
            out=str(out) if out else None,
        )
        return await Storyboards(await self.engine()).generate(request, on_progress)

    async def remix_chain(
        self,
        base: str,
        steps: Sequence[str],
        *,
        model: str = "sora-2",
        seconds: int | None = None,
        size: str | None = None,
        stitch: bool = False,
        crossfade: float = 0.0,
        enhance: str | None = None,
        budget_usd: float | None = None,
        out: str | Path | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> RemixChain:
        """A base clip (a prompt or a completed video's id), then each remix from the last result."""
        from sorakit.pipelines.remixes import RemixChainRequest, RemixChains

        request = RemixChainRequest(
            base,
            list(steps),
            model=model,
            seconds=seconds,
            size=size,
            stitch=stitch,
            crossfade=crossfade,
            enhance=enhance,
            budget_usd=budget_usd,
            out=str(out) if out else None,
        )
        return await RemixChains(await self.engine()).generate(request, on_progress)

    async def variations(
        self,
        prompt: str,
        count: int = 4,
        *,
        model: str = "sora-2",
        seconds: int | None = None,
        size: str | None = None,
        reference: str | Path | None = None,
        enhance: str | None = None,
        budget_usd: float | None = None,
        out: str | Path | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Takes:
        """`count` takes of one prompt at once; a failed take keeps the others (see `failed`)."""
        from sorakit.pipelines.variations import Variations, VariationsRequest

        request = VariationsRequest(
            prompt,
            count=count,
            model=model,
            seconds=seconds,
            size=size,
            reference=str(Path(reference).resolve()) if reference else None,
            enhance=enhance,
            budget_usd=budget_usd,
            out=str(out) if out else None,
        )
        return await Variations(await self.engine()).generate(request, on_progress)

    async def plan_long(
        self,
        prompt: str,
        seconds: int,
        *,
        model: str = "sora-2",
        segments: int | None = None,
        mode: Continuity = "chain",
        planner: PlannerMode | None = None,
    ) -> Plan:
        """The segment plan a long video would use, to save, edit and pass back as `plan`."""
        from sorakit.pipelines.long import LongRequest, LongVideos

        request = LongRequest(
            prompt, seconds, model=model, segments=segments, mode=mode, planner=planner
        )
        return await LongVideos(await self.engine()).plan(request)

    async def cancel(self, video_id: str) -> JobRecord:
        """Stop an unfinished job."""
        return await (await self.engine()).cancel(video_id)

    async def delete(
        self, video_id: str, *, remote: bool = True, remote_required: bool = False
    ) -> JobRecord:
        """Delete a finished job and its files; with `remote`, the provider's copy too (with
        `remote_required`, a copy that cannot be deleted raises and nothing is deleted)."""
        return await (await self.engine()).delete(
            video_id, remote=remote, remote_required=remote_required
        )

    async def image(
        self,
        prompt: str,
        *,
        model: str = "gpt-image-1",
        size: str | None = None,
        n: int = 1,
        output_format: str = "png",
        edit: Sequence[ReferenceInput] = (),
        mask: ReferenceInput | None = None,
        wait: bool = True,
    ) -> list[JobRecord]:
        """Make `n` images (an edit of the `edit` images, repainting the `mask`'s transparent
        area); with `wait`, return once they are archived (`job.assets["image"].path`)."""
        engine = await self.engine()
        jobs = await engine.create_image(
            prompt, model=model, size=size, n=n, output_format=output_format, images=edit, mask=mask
        )
        if not wait:
            return jobs
        return [raise_for_failure(job) for job in await engine.wait_images(jobs)]

    async def models(self) -> list[ModelEntry]:
        """The models this client can use."""
        return list((await self.engine()).catalog)


def _blocking(
    method: Callable[Concatenate[AsyncClient, P], Awaitable[T]],
) -> Callable[Concatenate[Client, P], T]:
    """The blocking twin of an `AsyncClient` method, run on the client's portal thread."""

    def call(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._portal.call(functools.partial(method, self._async, *args, **kwargs))

    call.__name__ = method.__name__
    call.__doc__ = method.__doc__
    return call


class Client:
    """The blocking facade of `AsyncClient`: the same verbs, run on a private event loop."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        home: str | Path | None = None,
        settings: Settings | None = None,
        providers: dict[str, Provider] | None = None,
    ) -> None:
        self._async = AsyncClient(
            base_url=base_url, api_key=api_key, home=home, settings=settings, providers=providers
        )
        self._portal_context = start_blocking_portal()
        self._portal: BlockingPortal = self._portal_context.__enter__()

    generate = _blocking(AsyncClient.generate)
    remix = _blocking(AsyncClient.remix)
    extend = _blocking(AsyncClient.extend)
    edit = _blocking(AsyncClient.edit)
    wait = _blocking(AsyncClient.wait)
    get = _blocking(AsyncClient.get)
    jobs = _blocking(AsyncClient.jobs)
    resume = _blocking(AsyncClient.resume)
    cancel = _blocking(AsyncClient.cancel)
    delete = _blocking(AsyncClient.delete)
    models = _blocking(AsyncClient.models)
    image = _blocking(AsyncClient.image)
    long = _blocking(AsyncClient.long)
    plan_long = _blocking(AsyncClient.plan_long)
    resume_pipelines = _blocking(AsyncClient.resume_pipelines)
    storyboard = _blocking(AsyncClient.storyboard)
    remix_chain = _blocking(AsyncClient.remix_chain)
    variations = _blocking(AsyncClient.variations)

    def close(self) -> None:
        """Close the engine and stop the portal thread."""
        try:
            self._portal.call(self._async.aclose)
        finally:
            self._portal_context.__exit__(None, None, None)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
