"""`create_app(settings)`: the FastAPI app behind `sorakit serve`.

Nothing is built at import. The lifespan opens the engine on the server's own ledger, resumes
tracking of every unfinished job (so the server survives a restart), and wires webhooks and, on
the simulator, wire faults.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from sorakit import __version__
from sorakit.catalog.sync import OverrideSync
from sorakit.engine import Engine
from sorakit.engine.runner import FinishedListener
from sorakit.engine.supervisor import JobSupervisor
from sorakit.gateway.auth import Gatekeeper
from sorakit.gateway.pipeline_renders import PipelineRenders
from sorakit.providers.base import Provider
from sorakit.providers.registry import check_proxy_settings
from sorakit.server.errors import (
    ERROR_RESPONSES,
    UnexpectedErrorMiddleware,
    install_error_handlers,
)
from sorakit.server.limits import BodyLimitMiddleware, UrlCheckMiddleware
from sorakit.server.requestlog import RequestLog, RequestLogMiddleware
from sorakit.server.routes import (
    admin,
    admin_catalog,
    callbacks,
    chat,
    health,
    images,
    links,
    openwebui,
    pools,
    videos,
)
from sorakit.server.views import RenderedViews
from sorakit.server.webhooks import TenantWebhooks, WebhookSender, check_operator_webhook
from sorakit.settings import Settings, get_settings
from sorakit.studio import router as studio_router

if TYPE_CHECKING:
    from sorakit.mcp.http import McpEndpoint

logger = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None, *, providers: dict[str, Provider] | None = None
) -> FastAPI:
    """Build the app; `providers` replaces built-in providers by name (tests use it)."""
    settings = settings or get_settings()
    # Before uvicorn starts, so `sorakit serve` refuses in one clear line.
    check_operator_webhook(settings)
    check_proxy_settings(settings, providers or {})

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        listeners: list[FinishedListener] = []
        sender = None
        if settings.webhook_url and settings.webhook_secret is not None:  # both, or refused
            sender = WebhookSender(settings.webhook_url, settings.webhook_secret.get_secret_value())
            listeners.append(sender)
        engine = await Engine.open(
            settings, providers=_server_providers(settings, providers), listeners=listeners
        )
        tenant_webhooks = TenantWebhooks(engine.ledger, settings)
        engine.runner.listeners.append(tenant_webhooks)  # tenants' own URLs, SSRF-guarded
        gatekeeper = Gatekeeper(engine.ledger)
        try:
            await check_exposure(settings, gatekeeper)
            await _first_admin_token(engine)
        except BaseException:
            await tenant_webhooks.aclose()
            await engine.aclose()
            raise
        supervisor = JobSupervisor(engine)
        app.state.settings = settings
        app.state.engine = engine
        app.state.supervisor = supervisor
        app.state.gatekeeper = gatekeeper
        app.state.views = RenderedViews()
        app.state.pipelines = pipelines = PipelineRenders(engine)  # studio runs, chat storyboards
        request_log = RequestLog(engine.ledger)
        request_log.start()
        catalog_sync = OverrideSync(engine.catalog, engine.ledger)
        await catalog_sync.start()
        app.state.request_log = request_log
        resumed = await supervisor.start()
        if await gatekeeper.is_open():
            logger.warning(
                "sorakit %s serving the Videos API without API keys: any bearer token is "
                "accepted (loopback only; `sorakit keys create NAME` turns keys on)",
                __version__,
            )
        else:
            logger.info("sorakit %s serving the Videos API; API keys required", __version__)
        if resumed:
            logger.info("resumed tracking of %d unfinished jobs", resumed)
        mcp_run = contextlib.AsyncExitStack()  # MCP's session manager, once the state is set
        if mcp_endpoint is not None:
            await mcp_run.enter_async_context(mcp_endpoint.running())
        # Everything imported and built so far lives as long as the server: keep it out of the
        # cyclic collector, whose full passes over it otherwise stall requests for tens of ms.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await mcp_run.aclose()  # MCP sessions first: their calls use what follows
            await pipelines.stop()  # before the engine closes under their runs
            await catalog_sync.aclose()
            await request_log.aclose()
            await supervisor.stop()
            if sender is not None:
                await sender.aclose()
            await tenant_webhooks.aclose()
            await engine.aclose()

    app = FastAPI(
        title="sorakit",
        version=__version__,
        summary="The Sora Videos API, routed to video models that exist today.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(videos.router)
    app.include_router(images.router)
    app.include_router(health.router)
    app.include_router(callbacks.router)
    app.include_router(admin.router, responses=ERROR_RESPONSES)
    app.include_router(admin_catalog.router, responses=ERROR_RESPONSES)
    app.include_router(pools.router, responses=ERROR_RESPONSES)
    app.include_router(chat.router, responses=ERROR_RESPONSES)
    app.include_router(links.router, responses=ERROR_RESPONSES)
    app.include_router(openwebui.router)  # the pipe's source, for Open WebUI
    mcp_endpoint = _mount_mcp(app, settings)
    app.include_router(studio_router)  # the web studio at `/`, outside the OpenAPI schema
    _install_faults(app, settings)
    if settings.cors_origins:  # closed unless an operator names the origins
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(UrlCheckMiddleware)
    app.add_middleware(RequestLogMiddleware)  # even a refused body is logged
    app.add_middleware(UnexpectedErrorMiddleware)  # outermost: a bug is a 500, not a hang-up
    return app


def _mount_mcp(app: FastAPI, settings: Settings) -> McpEndpoint | None:
    """MCP at `/mcp` when the mcp extra is installed."""
    if importlib.util.find_spec("mcp") is None:
        return None
    from sorakit.mcp.http import mount

    return mount(app, settings)


LOOPBACK = {"127.0.0.1", "::1", "localhost"}


async def check_exposure(settings: Settings, gatekeeper: Gatekeeper) -> None:
    """Refuse to serve beyond loopback while any caller would be let in."""
    if settings.host not in LOOPBACK and await gatekeeper.is_open():
        from sorakit.errors import ConfigurationError

        raise ConfigurationError(
            f"refusing to serve on {settings.host} without API keys: anyone could spend your "
            "provider credits. Create one with `sorakit keys create NAME`, or bind 127.0.0.1."
        )


async def _first_admin_token(engine: Engine) -> None:
    """At the first start, make the admin key and show it once (only its hash is kept)."""
    if any(key.admin for key in await engine.ledger.list_keys(include_revoked=True)):
        return
    _, token = await engine.ledger.create_key("admin", admin=True)
    # Straight to the console, never through logging: log files must not hold secrets.
    sys.stderr.write(
        "\nsorakit: the admin API key (shown this once; store it now, only its hash is kept):\n"
        f"  {token}\n\n"
    )
    sys.stderr.flush()


def _server_providers(
    settings: Settings, overrides: dict[str, Provider] | None
) -> dict[str, Provider]:
    """On the server, the simulator's wire faults happen in HTTP, not again inside the engine."""
    instances = dict(overrides or {})
    if "simulator" not in instances and settings.simulator_faults:
        from sorakit.providers.simulator import FaultInjector, FaultPlan, SimulatorProvider

        plan = FaultPlan.parse(settings.simulator_faults)
        job_level = FaultPlan(moderation=plan.moderation, retry_after=plan.retry_after)
        instances["simulator"] = SimulatorProvider(settings, faults=FaultInjector(job_level))
    return instances


def _install_faults(app: FastAPI, settings: Settings) -> None:
    if not settings.simulator_faults:
        return
    from sorakit.providers.simulator import FaultInjector, FaultPlan
    from sorakit.server.faults import FaultMiddleware

    plan = FaultPlan.parse(settings.simulator_faults)
    app.add_middleware(FaultMiddleware, injector=FaultInjector(plan), retry_after=plan.retry_after)
    logger.warning("simulated faults are on: %s", settings.simulator_faults)
