"""The pipeline tools: a long video, a storyboard, variations; then following them.

Each is recorded by its pipeline (`LongVideos`, `Storyboards`, `Variations`: planning, budgets,
the owner's caps) for the caller's key (`steps.owner_fields`), admitted by the gateway's
gatekeeper once for the request, and run by `PipelineRenders` in the background, so the tool
answers at once with the pipeline's id and a rough ETA. `get_pipeline` and `wait_for_pipeline`
follow it; its step videos are ordinary videos (`get_video`, `review_video`).
"""

from __future__ import annotations

import math
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult

from sorakit.catalog.capabilities import parse_size
from sorakit.engine.planning import check_prompt
from sorakit.errors import JobFailedError, NotFoundError, SorakitError
from sorakit.ledger import PipelineRecord, PipelineStatus
from sorakit.mcp.access import Caller
from sorakit.mcp.views import answer, refusing
from sorakit.pipelines.long import LongRequest, LongVideos
from sorakit.pipelines.shots import StoryboardRequest, Storyboards
from sorakit.pipelines.steps import owner_fields
from sorakit.pipelines.variations import Variations, VariationsRequest

if TYPE_CHECKING:
    from sorakit.mcp.server import Session

POLL_SECONDS = 0.5
WAIT_LIMIT_SECONDS = 600.0


def register(server: MCPServer[None], session: Session) -> None:
    """Add the pipeline tools."""
    _register_starting(server, session)
    _register_following(server, session)


REFERENCE_FILE = "reference.png"
"""A pipeline's first-frame image, kept in the pipeline's own folder (it lives and goes with it)."""


@dataclass
class _Reference:
    """A pipeline's first-frame image as a path its runs can read again after a restart: a
    local file as it is, or an image argument's bytes staged under the home until the pipeline
    is recorded, then moved into the pipeline's own folder (a failed pipeline's resume still
    finds it; whatever removes the pipeline's folder removes it)."""

    path: str | None = None
    staged: Path | None = None
    """The staging folder this call made (None: nothing of ours to move)."""

    @classmethod
    async def of(cls, session: Session, caller: Caller, value: str | None) -> _Reference:
        if not value:
            return cls()
        image = await caller.image(value, "input_reference")
        if isinstance(image, Path):
            return cls(str(image))
        folder = session.settings.home / "mcp" / "references" / uuid.uuid4().hex
        await anyio.Path(folder).mkdir(parents=True, exist_ok=True)
        await anyio.Path(folder / REFERENCE_FILE).write_bytes(image)
        return cls(str(folder / REFERENCE_FILE), folder)

    async def settle(self, session: Session, pipeline: PipelineRecord) -> PipelineRecord:
        """Move a staged image into the just-recorded pipeline's folder, before it runs."""
        if self.staged is None or self.path is None:
            return pipeline
        target = Path(pipeline.spec["folder"]) / REFERENCE_FILE
        source = Path(self.path)

        def move() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(source, target)

        await anyio.to_thread.run_sync(move)
        request = {**pipeline.spec["request"], "reference": str(target)}
        spec = {**pipeline.spec, "request": request}
        return await session.engine.ledger.update_pipeline(pipeline.id, spec=spec)

    async def drop(self) -> None:
        """Remove the staging folder (empty once settled; the image itself when refused)."""
        if self.staged is not None:
            staged = self.staged
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(staged, ignore_errors=True))


def _eta(session: Session, model: str, size: str | None, seconds: float, rounds: int) -> float:
    """A rough ETA: `rounds` renders one after another, each as long as the model's usual."""
    entry = session.engine.catalog.resolve(model)
    caps = entry.capabilities
    planned = size if size and "x" in size else caps.default_size
    try:
        parse_size(planned)
    except (ValueError, SorakitError):  # a word or a ratio: the model's usual size will do
        planned = caps.default_size
    return round(caps.expected_render_seconds(planned, seconds) * max(1, rounds), 1)


def _register_starting(server: MCPServer[None], session: Session) -> None:
    async def started(
        caller: Caller, pipeline: PipelineRecord, eta: float, estimate: float | None
    ) -> CallToolResult:
        session.services.renders.start(pipeline.id)
        caller.note(str(pipeline.spec.get("request", {}).get("model", "")), None, estimate)
        view = await pipeline_view(session, caller, pipeline)
        view["eta_seconds"] = eta
        if estimate is not None:
            view["estimated_cost_usd"] = estimate
        return answer(view)

    @server.tool()
    @refusing
    async def make_long_video(
        ctx: Context,
        prompt: str = "",
        seconds: int = 20,
        model: str = "sora-2",
        size: str | None = None,
        mode: Literal["chain", "extend", "keyframes"] = "chain",
        crossfade: float = 0.0,
        input_reference: str | None = None,
    ) -> CallToolResult:
        """Start a video longer than one clip: planned into segments, each continuing the
        last, stitched into one MP4. Returns at once with the pipeline's id and eta_seconds;
        then wait_for_pipeline.

        Args:
            prompt: The whole story (required); the planner splits it into segments.
            seconds: The total length in seconds.
            model: A model name or alias from list_models.
            size: WxH, a word (landscape, portrait) or a ratio (16:9).
            mode: chain (each segment starts from the last frame), extend (the model's own
                extensions) or keyframes (segments rendered at once between keyframes).
            crossfade: Seconds of crossfade at each seam (0: a clean cut).
            input_reference: An image the first segment starts from (a data URL or an
                http(s) URL; on stdio a file path too).
        """
        caller = session.caller(ctx)
        check_prompt(prompt)
        reference = await _Reference.of(session, caller, input_reference)
        request = LongRequest(
            prompt,
            seconds,
            model=model,
            size=size,
            mode=mode,
            crossfade=crossfade,
            reference=reference.path,
            **owner_fields(caller.owner),
        )
        longs = LongVideos(session.engine)
        try:
            async with session.admitted(caller, model) as parallel:
                request.parallel = parallel
                pipeline = await reference.settle(session, await longs.start(request))
        finally:
            await reference.drop()
        segments = len(pipeline.spec.get("plan", {}).get("segments", [])) or 1
        rounds = 1 if mode == "keyframes" else segments
        eta = _eta(session, model, size, seconds / segments, rounds)
        return await started(caller, pipeline, eta, longs.estimate(request))

    @server.tool()
    @refusing
    async def run_storyboard(
        ctx: Context, storyboard: str = "", model: str = "sora-2", size: str | None = None
    ) -> CallToolResult:
        """Start a storyboard: shots written `[5s] a heron lands. [4s] it takes off.`, each
        rendered (a shot may continue the one before) and stitched into one MP4. Returns at
        once with the pipeline's id and eta_seconds; then wait_for_pipeline.

        Args:
            storyboard: The shots as text (on stdio also a storyboard file's path).
            model: The model of shots that name none.
            size: The size of shots that name none.
        """
        caller = session.caller(ctx)
        request = StoryboardRequest(
            storyboard,
            model=model,
            size=size,
            text_only=caller.remote,  # a tenant's text is never read as a server path
            **owner_fields(caller.owner),
        )
        boards = Storyboards(session.engine)
        async with session.admitted(caller, model) as parallel:
            request.parallel = parallel
            pipeline = await boards.start(request)
        shots: list[dict[str, Any]] = pipeline.spec.get("shots", [])
        longest = max((float(shot.get("seconds", 4)) for shot in shots), default=4.0)
        eta = _eta(session, model, size, longest, len(shots))
        return await started(caller, pipeline, eta, None)

    @server.tool()
    @refusing
    async def make_variations(
        ctx: Context,
        prompt: str = "",
        count: int = 4,
        model: str = "sora-2",
        seconds: int | None = None,
        size: str | None = None,
        input_reference: str | None = None,
    ) -> CallToolResult:
        """Start `count` takes of one prompt, rendered side by side, to pick the best (review
        each with review_video). Returns at once with the pipeline's id and eta_seconds.

        Args:
            prompt: What every take shows (required).
            count: How many takes, 1 to 16.
            model: A model name or alias from list_models.
            seconds: Each take's length; omitted: the model's default.
            size: WxH, a word (landscape, portrait) or a ratio (16:9).
            input_reference: An image every take starts from (a data URL or an http(s) URL;
                on stdio a file path too).
        """
        caller = session.caller(ctx)
        check_prompt(prompt)
        reference = await _Reference.of(session, caller, input_reference)
        request = VariationsRequest(
            prompt,
            count=count,
            model=model,
            seconds=seconds,
            size=size,
            reference=reference.path,
            **owner_fields(caller.owner),
        )
        try:
            async with session.admitted(caller, model) as parallel:
                request.parallel = parallel
                pipeline = await reference.settle(
                    session, await Variations(session.engine).start(request)
                )
        finally:
            await reference.drop()
        caps = session.engine.catalog.resolve(model).capabilities
        rounds = math.ceil(count / parallel) if parallel else 1
        eta = _eta(session, model, size, seconds or caps.default_seconds, rounds)
        return await started(caller, pipeline, eta, None)


async def owned_pipeline(session: Session, caller: Caller, pipeline_id: str) -> PipelineRecord:
    """A pipeline its caller may see; another key's is not found."""
    try:
        pipeline = await session.engine.ledger.get_pipeline(pipeline_id)
    except NotFoundError:
        pipeline = None
    if pipeline is None or not caller.may_see(pipeline.owner):
        raise NotFoundError(f"No pipeline found with id '{pipeline_id}'.", param="pipeline_id")
    return pipeline


async def pipeline_view(
    session: Session, caller: Caller, pipeline: PipelineRecord
) -> dict[str, Any]:
    """A pipeline as an agent needs it: state, its step videos, its output; no bytes."""
    jobs = await session.engine.ledger.pipeline_jobs(pipeline.id)
    view: dict[str, Any] = {
        "id": pipeline.id,
        "kind": pipeline.kind,
        "status": pipeline.status.value,
        "title": pipeline.title,
        "steps": [
            {
                "step": job.pipeline_step,
                **{k: v for k, v in session.view(caller, job).items() if k != "prompt"},
            }
            for job in jobs
        ],
    }
    if pipeline.output:
        if caller.remote:
            view["output"] = f"{caller.base_url}{session.links.path(pipeline.id, kind='pipeline')}"
        else:
            view["output"] = pipeline.output
    if notes := pipeline.state.get("notes"):
        view["notes"] = notes
    error = pipeline.error_message or (
        str(failure) if (failure := session.services.renders.error(pipeline.id)) else None
    )
    if error:
        view["error"] = error
    return view


def _register_following(server: MCPServer[None], session: Session) -> None:
    @server.tool()
    @refusing
    async def get_pipeline(pipeline_id: str, ctx: Context) -> CallToolResult:
        """A pipeline as it stands: status, each step's video, the stitched output when done.

        Args:
            pipeline_id: The id make_long_video, run_storyboard or make_variations gave.
        """
        caller = session.caller(ctx)
        pipeline = await owned_pipeline(session, caller, pipeline_id)
        return answer(await pipeline_view(session, caller, pipeline))

    @server.tool()
    @refusing
    async def wait_for_pipeline(
        pipeline_id: str, ctx: Context, timeout_seconds: float = 300.0
    ) -> CallToolResult:
        """Wait for a pipeline to finish, sending progress notifications (steps done of all)
        meanwhile; after timeout_seconds it answers as it stands (call it again).

        Args:
            pipeline_id: The pipeline's id.
            timeout_seconds: The longest to wait, at most 600.
        """
        caller = session.caller(ctx)
        pipeline = await owned_pipeline(session, caller, pipeline_id)
        if pipeline.status is PipelineStatus.RUNNING:
            session.services.renders.start(pipeline.id)  # one left by a stopped server: resume
        with anyio.move_on_after(max(0.0, min(timeout_seconds, WAIT_LIMIT_SECONDS))):
            last: tuple[int, int] | None = None
            while pipeline.status is PipelineStatus.RUNNING:
                jobs = await session.engine.ledger.pipeline_jobs(pipeline.id)
                done = sum(1 for job in jobs if job.status.finished)
                if (done, len(jobs)) != last:
                    last = (done, len(jobs))
                    await ctx.report_progress(done, max(len(jobs), 1), f"{pipeline.id} running")
                await anyio.sleep(POLL_SECONDS)
                pipeline = await owned_pipeline(session, caller, pipeline_id)
        view = await pipeline_view(session, caller, pipeline)
        if pipeline.status is PipelineStatus.FAILED:
            raise JobFailedError(pipeline.id, "pipeline_failed", view.get("error"))
        return answer(view)
