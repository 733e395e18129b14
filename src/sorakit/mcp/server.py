"""`build_server`: an `MCPServer` whose tools make, wait for, review and chain videos.

Every tool is a thin call into the one `Engine` (planning, prices, budgets, the ledger), so
its arguments are refused with the same one-line messages as the CLI, returned as MCP tool
errors. `create_video` returns at once (agents' clients time out long calls); the job renders
in the background and `wait_for_video` watches it, bounded by its own timeout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.types import CallToolResult

from sorakit._version import __version__
from sorakit.engine import Engine, Owner
from sorakit.engine.planning import check_prompt, plan_generate
from sorakit.engine.supervisor import JobSupervisor
from sorakit.errors import NotFoundError, SorakitError, job_failed
from sorakit.ledger import JobRecord, JobStatus
from sorakit.mcp import review
from sorakit.mcp.views import answer, as_json, job_view, refusing
from sorakit.settings import Settings

WAIT_LIMIT_SECONDS = 600.0
"""The longest one `wait_for_video` call blocks; clients time out long calls anyway."""
POLL_SECONDS = 0.25
"""How often `wait_for_video` reads the ledger (the tracker does the provider polling)."""

INSTRUCTIONS = """Make videos with sorakit. create_video returns at once with an id and an ETA;
wait_for_video blocks up to timeout_seconds (call it again if the job is still running);
review_video shows frames so you can judge the result, then remix_video or extend_video it.
Refused arguments come back as a one-line error saying what is allowed (see list_models)."""


class Session:
    """What the tools share while the server runs: the engine, its owner and the tracker."""

    def __init__(self, owner: Owner | None) -> None:
        self.owner = owner
        self._engine: Engine | None = None
        self._tracker: JobSupervisor | None = None

    @property
    def engine(self) -> Engine:
        assert self._engine is not None, "the MCP server's lifespan opens the engine"
        return self._engine

    @property
    def tracker(self) -> JobSupervisor:
        assert self._tracker is not None, "the MCP server's lifespan starts the tracker"
        return self._tracker

    def attach(self, engine: Engine | None, tracker: JobSupervisor | None) -> None:
        """Set (or, with None, clear) what the server's run opened."""
        self._engine, self._tracker = engine, tracker

    async def job(self, video_id: str) -> JobRecord:
        """A job its owner may see; another key's is not found, as over `/v1`."""
        job = await self.engine.get(video_id)
        owner = self.owner
        if owner and owner.key_id and not owner.sees_all and job.owner != owner.key_id:
            raise NotFoundError(f"No video found with id '{video_id}'.", param="video_id")
        return job

    async def started(self, job: JobRecord) -> CallToolResult:
        """A just-created job, tracked in the background and answered at once."""
        self.tracker.watch(job.id)
        return answer(job_view(job))


@dataclass
class _Lifespan:
    """Opens the engine (or borrows one) and the tracker for the server's run."""

    session: Session
    settings: Settings
    engine: Engine | None

    @asynccontextmanager
    async def __call__(self, _server: MCPServer[None]) -> AsyncIterator[None]:
        own = self.engine is None
        engine = self.engine or await Engine.open(self.settings)
        tracker = JobSupervisor(engine)
        self.session.attach(engine, tracker)
        try:
            yield None
        finally:  # jobs still rendering stay in the ledger, resumable
            with anyio.CancelScope(shield=True):
                await tracker.stop()
                self.session.attach(None, None)
                if own:
                    await engine.aclose()


def build_server(
    settings: Settings, *, owner: Owner | None = None, engine: Engine | None = None
) -> MCPServer[None]:
    """The MCP server over `settings`' ledger (or over a running `engine`, which it leaves open).

    `owner` is whom jobs are made for and who may see them (None: the local ledger, all of it).
    """
    session = Session(owner)
    server: MCPServer[None] = MCPServer(
        "sorakit",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level="WARNING",  # the SDK's own logging set-up (on stderr); sorakit's is the CLI's
        lifespan=_Lifespan(session, settings, engine),
    )
    _register_catalog(server, session)
    _register_jobs(server, session)
    review.register(server, session)
    _register_resources(server, session)
    return server


def _register_catalog(server: MCPServer[None], session: Session) -> None:
    @server.tool()
    @refusing
    async def list_models() -> CallToolResult:
        """Every model: provider, sizes and seconds per mode, prices (USD per second or per
        clip), features (remix, extension, image reference, last frame) and `configured`
        (whether its credential is set). Aliases map old names such as sora-2 to a model."""
        from sorakit.cli.models import listing  # the same JSON as `sorakit models --json`

        return answer(listing(session.engine.catalog, session.engine.settings))

    @server.tool()
    @refusing
    async def estimate_cost(
        model: str = "sora-2",
        seconds: str | None = None,
        size: str | None = None,
        snap: bool = False,
    ) -> CallToolResult:
        """What a video would cost, planned as create_video plans it (nothing is made).

        Args:
            model: A model name or alias from list_models.
            seconds: Clip length; omitted: the model's default.
            size: WxH (1280x720), a word (landscape, portrait) or a ratio (16:9).
            snap: Move seconds and size to the nearest allowed values instead of refusing.
        """
        entry = session.engine.catalog.resolve(model)
        # The price depends on model, size and seconds only; a stand-in prompt passes planning.
        plan = await anyio.to_thread.run_sync(
            lambda: plan_generate(entry, "cost estimate", seconds=seconds, size=size, snap=snap)
        )
        return answer(
            {
                "model": entry.name,
                "seconds": plan.seconds,
                "size": plan.size,
                "estimated_cost_usd": plan.estimated_cost,
                "changes": plan.changes,
            }
        )

    @server.tool()
    @refusing
    async def get_budget() -> CallToolResult:
        """Money so far: committed (finished jobs) and reserved (running ones) in USD, and
        what is left under each cap that applies (the ledger's, the API key's, the project's)."""
        engine, owner = session.engine, session.owner
        caps: list[tuple[str, float, dict[str, str | None]]] = []
        if engine.settings.budget_usd is not None:
            caps.append(("ledger", engine.settings.budget_usd, {}))
        if owner and owner.key_id and owner.budget_usd is not None:
            caps.append(("key", owner.budget_usd, {"owner": owner.key_id}))
        if owner and owner.scope_id and owner.scope_budget_usd is not None:
            caps.append(("project", owner.scope_budget_usd, {"scope_id": owner.scope_id}))
        key = owner.key_id if owner and not owner.sees_all else None
        spend = await engine.ledger.spend(owner=key)
        budgets = []
        for label, cap, scope in caps:
            used = await engine.ledger.spend(**scope)
            budgets.append({"budget": label, "cap_usd": cap, "left_usd": cap - used.total})
        return answer(
            {
                "committed_usd": spend.committed,
                "reserved_usd": spend.reserved,
                "unpriced_jobs": spend.unpriced_jobs,
                "budgets": budgets,
            }
        )


def _register_jobs(server: MCPServer[None], session: Session) -> None:
    @server.tool()
    @refusing
    async def create_video(
        prompt: str = "",
        model: str = "sora-2",
        seconds: str | None = None,
        size: str | None = None,
        snap: bool = False,
    ) -> CallToolResult:
        """Start a video and return at once with its id, status and eta_seconds; then call
        wait_for_video (or get_video) with the id.

        Args:
            prompt: What the video shows (required).
            model: A model name or alias from list_models.
            seconds: Clip length, one the model allows; omitted: its default.
            size: WxH (1280x720), a word (landscape, portrait) or a ratio (16:9).
            snap: Move seconds and size to the nearest allowed values (said in `changes`)
                instead of refusing them.
        """
        job = await session.engine.create(
            prompt, model=model, seconds=seconds, size=size, snap=snap, owner=session.owner
        )
        return await session.started(job)

    @server.tool()
    @refusing
    async def get_video(video_id: str) -> CallToolResult:
        """A video job as it stands: status, progress, eta_seconds, cost, error, file paths.

        Args:
            video_id: The id create_video (or list_videos) gave.
        """
        return answer(job_view(await session.job(video_id)))

    @server.tool()
    @refusing
    async def wait_for_video(
        video_id: str, ctx: Context, timeout_seconds: float = 120.0
    ) -> CallToolResult:
        """Wait for a video to finish, sending progress notifications (0-100) meanwhile.

        Returns the finished job, or after timeout_seconds the job as it stands (still
        rendering: call wait_for_video again). A failed job is an error with the provider's
        reason (a moderation block keeps it).

        Args:
            video_id: The id create_video gave.
            timeout_seconds: The longest to wait, at most 600.
        """
        job = await session.job(video_id)
        if not job.status.finished:
            session.tracker.watch(job.id)  # e.g. a job an earlier session left unfinished
        with anyio.move_on_after(max(0.0, min(timeout_seconds, WAIT_LIMIT_SECONDS))):
            last: tuple[str, int] | None = None
            while not job.status.finished:
                if (job.status.value, job.progress) != last:
                    last = (job.status.value, job.progress)
                    await ctx.report_progress(job.progress, 100, f"{job.id} {job.status.value}")
                await anyio.sleep(POLL_SECONDS)
                job = await session.job(video_id)
        if job.status is JobStatus.FAILED:  # the provider's reason; a moderation block keeps it
            raise job_failed(job.id, job.error_code, job.error_message)
        if job.status.finished:
            await ctx.report_progress(100, 100, f"{job.id} {job.status.value}")
        return answer(job_view(job))

    @server.tool()
    @refusing
    async def cancel_video(video_id: str) -> CallToolResult:
        """Stop a video that has not finished (the provider is asked to drop it).

        Args:
            video_id: The video's id.
        """
        await session.job(video_id)
        return answer(job_view(await session.engine.cancel(video_id)))

    @server.tool()
    @refusing
    async def delete_video(video_id: str) -> CallToolResult:
        """Delete a finished video, its files and the provider's copy.

        Args:
            video_id: A completed, failed or cancelled video's id.
        """
        job = await session.engine.delete((await session.job(video_id)).id)
        return answer({"id": job.id, "deleted": True})

    @server.tool()
    @refusing
    async def list_videos(limit: int = 20, after: str | None = None) -> CallToolResult:
        """Video jobs, newest first.

        Args:
            limit: How many, 1 to 100.
            after: A video id: list the ones made before it (the next page).
        """
        owner = session.owner
        key = owner.key_id if owner and not owner.sees_all else None
        jobs, has_more = await session.engine.ledger.list_jobs(
            after=after, limit=max(1, min(limit, 100)), owner=key
        )
        return answer({"videos": [job_view(job) for job in jobs], "has_more": has_more})

    @server.tool()
    @refusing
    async def remix_video(video_id: str, prompt: str = "") -> CallToolResult:
        """Start a new video from a completed one, changed as the prompt says (same size and
        length); returns at once like create_video.

        Args:
            video_id: A completed video's id.
            prompt: The change to make (required).
        """
        source = await session.job(video_id)
        check_prompt(prompt)
        job = await session.engine.remix(source.id, prompt, owner=session.owner)
        return await session.started(job)

    @server.tool()
    @refusing
    async def extend_video(
        video_id: str, prompt: str = "", seconds: str = "4", snap: bool = False
    ) -> CallToolResult:
        """Continue a completed video by `seconds`; the new video holds the stitched whole.
        Returns at once like create_video.

        Args:
            video_id: A completed video's id (its model must support extensions).
            prompt: What happens next (required).
            seconds: Seconds to add, as the model allows.
            snap: Move seconds to the nearest allowed value instead of refusing.
        """
        source = await session.job(video_id)
        job = await session.engine.extend(
            source.id, prompt, seconds, snap=snap, owner=session.owner
        )
        return await session.started(job)


def _register_resources(server: MCPServer[None], session: Session) -> None:
    @server.resource("video://{video_id}", mime_type="application/json")
    async def video(video_id: str) -> str:
        """A video job as JSON (as get_video returns it)."""
        try:
            return as_json(job_view(await session.job(video_id)))
        except SorakitError as exc:
            raise ResourceError(exc.message) from exc
