"""What every command shares: the client options and running a coroutine."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import anyio
import typer

from sorakit.logs import configure_logging

if TYPE_CHECKING:
    from sorakit.client import AsyncClient

T = TypeVar("T")

BaseUrl = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="A /v1/videos server to send Sora models to (else the simulator).",
        envvar="OPENAI_BASE_URL",
        show_envvar=False,
    ),
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key", help="Bearer token for --base-url.", envvar="OPENAI_API_KEY", show_envvar=False
    ),
]
Home = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="Ledger and assets folder (default: SORAKIT_HOME or a user data dir).",
        envvar="SORAKIT_HOME",
        show_envvar=False,
    ),
]
Verbose = Annotated[
    int, typer.Option("--verbose", "-v", count=True, help="More logging on stderr.")
]


def run(
    make: Callable[[AsyncClient], Awaitable[T]],
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    home: Path | None = None,
    verbose: int = 0,
) -> T:
    """Open a client, run `make(client)` on a fresh event loop, close the client."""
    configure_logging(verbose)
    from sorakit.client import AsyncClient

    async def main() -> T:
        async with AsyncClient(base_url=base_url, api_key=api_key, home=home) as client:
            return await make(client)

    return anyio.run(main)
