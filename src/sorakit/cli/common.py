"""What every command shares: the client options and running a coroutine."""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import anyio
import typer
from typer._click.core import Command, Context  # Typer 0.29 ships its own click
from typer.core import TyperOption

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
    int,
    typer.Option(
        "--verbose",
        "-v",
        count=True,
        show_default=False,
        help="More logging on stderr; repeat for more (-v info, -vv debug).",
    ),
]


def honest_flags(command: Command) -> None:
    """Make `--help` show what each option takes: `--json`, not `--json <bool>`.

    Typer's Rich help gives every option a type column, flags included, so `--verbose <int>`
    reads as if it took a number (an empty metavar leaves the column blank), and a repeatable
    option reads as if it took a list (`--model <list[str]>`: it takes one `<str>` a time).
    """
    context = Context(command)
    for param in command.get_params(context):  # with the lazily made --help
        if not isinstance(param, TyperOption) or param.metavar is not None:
            continue
        if param.is_flag or param.count:
            param.metavar = ""
        elif param.multiple:
            shown = param.display_type(context)
            param.metavar = re.sub(r"<list\[(\w+)\]>", lambda m: f"<{m[1].lower()}>", shown)
    for sub in getattr(command, "commands", {}).values():
        honest_flags(sub)


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

    if api_key is not None and api_key == os.environ.get("OPENAI_API_KEY"):
        api_key = None  # typer read it from the variable, where the settings find it too

    async def main() -> T:
        async with AsyncClient(base_url=base_url, api_key=api_key, home=home) as client:
            if api_key is not None:
                client.api_key_origin = "--api-key"
            return await make(client)

    return anyio.run(main)
