"""`build_server`: an `MCPServer` whose tools make, wait for, review and chain videos.

Every tool is a thin call into the one `Engine` (planning, prices, budgets, the ledger), so
its arguments are refused with the same one-line messages as the CLI, returned as MCP tool
errors. `create_video` returns at once (agents' clients time out long calls); the job renders
in the background and `wait_for_video` watches it, bounded by its own timeout.

The same server runs over stdio on the local ledger (it opens the engine, a tracker and the
pipeline runs itself) and mounted at `/mcp` on `sorakit serve` (`mcp.http`: it borrows the
app's engine, supervisor, pipeline runs and gatekeeper, and each call is its key's).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult

from sorakit._version import __version__
from sorakit.engine import Engine, Owner
from sorakit.engine.planning import plan_generate
from sorakit.engine.supervisor import JobSupervisor
from sorakit.errors import NotFoundError, TransientProviderError
from sorakit.gateway.auth import Gatekeeper, Principal
from sorakit.gateway.links import LinkKind, LinkSigner
from sorakit.gateway.pipeline_renders import PipelineRenders
from sorakit.ledger import JobRecord
from sorakit.mcp import images, pipelines, resources, review, videos
from sorakit.mcp.access import PRINCIPAL_STATE, Caller
from sorakit.mcp.views import IMAGE_ID_PREFIX, answer, image_view, job_view, refusing
from sorakit.settings import Settings

INSTRUCTIONS = """Make videos with sorakit. create_video returns at once with an id and an ETA;
wait_for_video blocks up to timeout_seconds (call it again if the job is still running);
review_video shows frames so you can judge the result, then remix_video or extend_video it.
make_image makes images (and answers with them); create_video's first_frame_image_id animates
one. make_long_video, run_storyboard and make_variations start pipelines: get_pipeline and
wait_for_pipeline follow them. Refused arguments come back as a one-line error saying what is
allowed (see list_models)."""


@dataclass
class Services:
    """What the tools run on: the engine, the job tracker, the pipeline runs and, on the
    gateway, its gatekeeper."""

    engine: Engine
    tracker: JobSupervisor
    renders: PipelineRenders
    gatekeeper: Gatekeeper | None = None


class Session:
    """What the tools share while the server runs, and each call's caller."""

    def __init__(self, owner: Owner | None, settings: Settings) -> None:
        self.owner = owner
        self.settings = settings
        self._services: Services | None = None
        self._links: LinkSigner | None = None

    @property
    def services(self) -> Services:
        assert self._services is not None, "the MCP server's lifespan opens the engine"
        return self._services

    @property
    def engine(self) -> Engine:
        return self.services.engine

    @property
    def tracker(self) -> JobSupervisor:
        return self.services.tracker

    @property
    def links(self) -> LinkSigner:
        """Signs download links for HTTP callers (the same key as the chat answers' links)."""
        if self._links is None:
            self._links = LinkSigner.from_settings(self.settings)
        return self._links

    def attach(self, services: Services | None) -> None:
        """Set (or, with None, clear) what the server's run opened or borrowed."""
        self._services = services

    def caller(self, ctx: Context) -> Caller:
        """Who makes this call: an HTTP request's key (left by `mcp.http`), or the local user."""
        request = ctx.request_context.request if ctx.request_context else None
        scope: dict[str, Any] = getattr(request, "scope", None) or {}
        principal = (scope.get("state") or {}).get(PRINCIPAL_STATE)
        if not isinstance(principal, Principal):
            return Caller(self.owner)
        base = self.settings.public_url or str(getattr(request, "base_url", ""))
        return Caller(principal.owner, principal, base.rstrip("/"), request)

    async def job(self, caller: Caller, video_id: str) -> JobRecord:
        """A video job its caller may see; another key's is not found, as over `/v1`, and an
        image is not a video (said plainly: the id's prefix already tells it)."""
        if video_id.startswith(IMAGE_ID_PREFIX):
            raise NotFoundError(
                f"{video_id} is an image, not a video: read image://{video_id} for it "
                "(make_image made it), or animate it with create_video's first_frame_image_id.",
                param="video_id",
            )
        job = await self.engine.get(video_id)
        if job.id != video_id or not caller.may_see(job.owner) or job.kind == "image":
            raise NotFoundError(f"No video found with id '{video_id}'.", param="video_id")
        return job

    async def image(self, caller: Caller, image_id: str, param: str = "image_id") -> JobRecord:
        """An image job its caller may see; another key's (or a video) is not found."""
        try:
            job = await self.engine.get(image_id)
        except NotFoundError:
            job = None
        if (
            job is None
            or job.id != image_id
            or job.kind != "image"
            or not caller.may_see(job.owner)
        ):
            raise NotFoundError(f"No image found with id '{image_id}'.", param=param)
        return job

    def view(self, caller: Caller, job: JobRecord) -> dict[str, Any]:
        """`job_view` (`image_view` for an image), with signed links instead of server paths
        for an HTTP caller."""
        view = image_view(job) if job.kind == "image" else job_view(job)
        if caller.remote and "files" in view:
            view["files"] = self.urls(caller, job, list(view["files"]))
        return view

    def urls(self, caller: Caller, job: JobRecord, names: list[str]) -> dict[str, str]:
        """Where an HTTP caller fetches a job's files: signed links (no key needed), one per
        file (a video's MP4, thumbnail and spritesheet; an image's file)."""
        kinds: dict[str, LinkKind] = {
            "video": "video",
            "thumbnail": "thumbnail",
            "spritesheet": "spritesheet",
            "image": "image",
        }
        return {
            name: f"{caller.base_url}{self.links.path(job.id, kind=kinds[name])}"
            for name in names
            if name in kinds
        }

    @asynccontextmanager
    async def admitted(self, caller: Caller, *models: str) -> AsyncIterator[int | None]:
        """Make new work inside this once the gateway's gatekeeper admits the caller's key for
        its models (the key's allow-list, rate and concurrency, as `/v1`; nothing on stdio);
        it gives the concurrency the key has left for a pipeline's steps (None: no limit)."""
        gatekeeper, principal = self.services.gatekeeper, caller.principal
        if gatekeeper is None or principal is None:
            yield None
            return
        async with gatekeeper.lock(principal):
            for model in dict.fromkeys(models):  # each counts once: the safe side
                await gatekeeper.admit(principal, model)
            key, parallel = principal.key, None
            if key is not None and not key.admin and key.concurrency is not None:
                parallel = max(1, key.concurrency - await self.engine.ledger.running_jobs(key.id))
            yield parallel

    async def started(self, caller: Caller, job: JobRecord) -> CallToolResult:
        """A just-recorded job: submitted (a transient provider failure leaves it queued for
        the tracker), tracked in the background and answered at once."""
        with contextlib.suppress(TransientProviderError):
            job = await self.engine.runner.submit(job)
        self.tracker.watch(job.id)
        caller.note(job.model, job.id, job.estimated_cost)
        return answer(self.view(caller, job))


@dataclass
class _Lifespan:
    """Opens the engine (or borrows one, or the gateway's services) for the server's run."""

    session: Session
    settings: Settings
    engine: Engine | None
    services: Callable[[], Services] | None

    @asynccontextmanager
    async def __call__(self, _server: MCPServer[None]) -> AsyncIterator[None]:
        if self.services is not None:  # the gateway's: it starts and stops them
            self.session.attach(self.services())
            try:
                yield None
            finally:
                self.session.attach(None)
            return
        own = self.engine is None
        engine = self.engine or await Engine.open(self.settings)
        services = Services(engine, JobSupervisor(engine), PipelineRenders(engine))
        self.session.attach(services)
        try:
            yield None
        finally:  # jobs and pipelines still running stay in the ledger, resumable
            with anyio.CancelScope(shield=True):
                await services.renders.stop()
                await services.tracker.stop()
                self.session.attach(None)
                if own:
                    await engine.aclose()


def build_server(
    settings: Settings,
    *,
    owner: Owner | None = None,
    engine: Engine | None = None,
    services: Callable[[], Services] | None = None,
) -> MCPServer[None]:
    """The MCP server over `settings`' ledger (or over a running `engine`, which it leaves open,
    or over the gateway's `services`, read when its run starts).

    `owner` is whom jobs are made for and who may see them (None: the local ledger, all of it);
    over HTTP each call's key replaces it.
    """
    session = Session(owner, settings)
    server: MCPServer[None] = MCPServer(
        "sorakit",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level="WARNING",  # the SDK's own logging set-up (on stderr); sorakit's is the CLI's
        lifespan=_Lifespan(session, settings, engine, services),
    )
    _register_catalog(server, session)
    videos.register(server, session)
    review.register(server, session)
    images.register(server, session)
    pipelines.register(server, session)
    resources.register(server, session)
    return server


def _register_catalog(server: MCPServer[None], session: Session) -> None:
    @server.tool()
    @refusing
    async def list_models(ctx: Context) -> CallToolResult:
        """Every model: `models` (video: provider, sizes and seconds per mode, prices in USD
        per second or per clip, features such as remix, extension, image reference, last
        frame) and `image_models` (for make_image: sizes, USD per image, edits, masks), each
        with `configured` (whether its credential is set). Aliases map old names such as
        sora-2 or gpt-image-1 to a model. Over HTTP, only the models the API key may use."""
        from sorakit.cli.models import listing  # the same JSON as `sorakit models --json`

        data = listing(session.engine.catalog, session.engine.settings)
        principal = session.caller(ctx).principal
        key = principal.key if principal else None
        if key is not None and not key.admin and key.models is not None:
            allowed = set(key.models)  # names or aliases, as the gatekeeper compares them
            aliases = {a: t for a, t in data["aliases"].items() if a in allowed}
            data["aliases"] = aliases
            for group in ("models", "image_models"):
                if group in data:
                    data[group] = [
                        row
                        for row in data[group]
                        if row["name"] in allowed or row["name"] in aliases.values()
                    ]
        return answer(data)

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
    async def get_budget(ctx: Context) -> CallToolResult:
        """Money so far: committed (finished jobs) and reserved (running ones) in USD, and
        what is left under each cap that applies (the ledger's, the API key's, the project's)."""
        caller = session.caller(ctx)
        engine, owner = session.engine, caller.owner
        caps: list[tuple[str, float, dict[str, str | None]]] = []
        if engine.settings.budget_usd is not None and not caller.remote:  # the operator's
            caps.append(("ledger", engine.settings.budget_usd, {}))
        if owner and owner.key_id and owner.budget_usd is not None:
            caps.append(("key", owner.budget_usd, {"owner": owner.key_id}))
        if owner and owner.scope_id and owner.scope_budget_usd is not None:
            caps.append(("project", owner.scope_budget_usd, {"scope_id": owner.scope_id}))
        spend = await engine.ledger.spend(owner=caller.listed_owner)
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
