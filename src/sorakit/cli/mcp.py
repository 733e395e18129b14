"""`sorakit mcp`: the MCP server over stdio, on the local ledger, for desktop agent clients.

stdout carries the protocol, so everything else (logging included) goes to stderr.
"""

from __future__ import annotations

import importlib.util

import typer

from sorakit.cli.common import Home, Verbose
from sorakit.logs import configure_logging

MISSING_EXTRA = (
    "sorakit: `sorakit mcp` needs the mcp extra: `uv sync --extra mcp` "
    "or `pip install 'sorakit[mcp]'`"
)


def mcp(home: Home = None, verbose: Verbose = 0) -> None:
    """Serve the MCP tools (make, wait for, review and chain videos) over stdio."""
    if importlib.util.find_spec("mcp") is None:
        typer.echo(MISSING_EXTRA, err=True)
        raise typer.Exit(1)
    import anyio

    from sorakit.mcp import build_server
    from sorakit.settings import get_settings

    configure_logging(verbose)
    settings = get_settings(**({"home": home} if home is not None else {}))
    anyio.run(build_server(settings).run_stdio_async)


def register(app: typer.Typer) -> None:
    """Add `mcp` to the main app."""
    app.command()(mcp)
