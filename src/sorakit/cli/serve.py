"""`sorakit serve`: the OpenAI-compatible Videos API on uvicorn."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import anyio
import typer

from sorakit.cli.common import Home, Verbose

if TYPE_CHECKING:
    from sorakit.settings import Settings


def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Address to bind (default 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", "-p", help="Port (default 8000).")] = None,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """Serve /v1/videos; with nothing configured every Sora model runs on the simulator."""
    import uvicorn

    from sorakit.logs import default_log_config
    from sorakit.server import create_app
    from sorakit.settings import get_settings

    overrides: dict[str, object] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if home is not None:
        overrides["home"] = home
    settings = get_settings(**overrides)
    anyio.run(_refuse_open_exposure, settings)  # one clear line, before uvicorn starts
    log_config = default_log_config(max(verbose, 1))
    log_config["loggers"]["uvicorn"] = {"level": "INFO", "handlers": ["stderr"], "propagate": False}
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=log_config,
        timeout_graceful_shutdown=5,
    )


async def _refuse_open_exposure(settings: Settings) -> None:
    from sorakit.gateway.auth import Gatekeeper
    from sorakit.ledger import Ledger
    from sorakit.server.app import LOOPBACK, check_exposure

    if settings.host in LOOPBACK:
        return
    ledger = await Ledger.open(settings.ledger_url)
    try:
        await check_exposure(settings, Gatekeeper(ledger))
    finally:
        await ledger.close()


def register(app: typer.Typer) -> None:
    """Add `serve` to the main app."""
    app.command()(serve)
