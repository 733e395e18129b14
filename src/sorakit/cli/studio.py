"""`sorakit studio`: open the web studio, starting `sorakit serve` on loopback if none answers."""

from __future__ import annotations

import subprocess
import sys
import time
import webbrowser
from pathlib import Path
from typing import Annotated

import typer

from sorakit.cli.common import Home
from sorakit.errors import ConfigurationError

START_SECONDS = 30.0
"""How long a background `serve` may take to answer."""


def studio(
    port: Annotated[int | None, typer.Option("--port", "-p", help="Port (default 8000).")] = None,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Print the URL only; open no browser.")
    ] = False,
    home: Home = None,
) -> None:
    """Open the studio in the browser (a `sorakit serve` on loopback is started if needed)."""
    from sorakit.settings import get_settings

    overrides: dict[str, object] = {"host": "127.0.0.1"}
    if port is not None:
        overrides["port"] = port
    if home is not None:
        overrides["home"] = home
    settings = get_settings(**overrides)
    url = f"http://127.0.0.1:{settings.port}/"
    if not _answers(url):
        pid = _start_serve(settings.port, settings.home, url)
        typer.echo(
            f"started `sorakit serve` in the background (pid {pid}; `kill {pid}` stops it)",
            err=True,
        )
    typer.echo(url)
    if not no_browser:
        webbrowser.open(url)


def _answers(url: str) -> bool:
    import httpx  # here, not at import: every `sorakit` command imports this module

    try:
        return httpx.get(f"{url}healthz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _start_serve(port: int, home: Path, url: str) -> int:
    """`sorakit serve` on loopback, detached from this terminal; its pid once it answers."""
    command = [
        sys.executable,
        "-c",
        "import sys; from sorakit.cli import main; sys.exit(main())",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--home",
        str(home),
    ]
    # No log file: a first start prints the admin key, and log files must not hold secrets.
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + START_SECONDS
    while not _answers(url):
        if process.poll() is not None:
            raise ConfigurationError(
                f"`sorakit serve` stopped at once (exit {process.returncode}); run "
                f"`sorakit serve --port {port}` to see why."
            )
        if time.monotonic() > deadline:
            process.terminate()
            raise ConfigurationError(f"`sorakit serve` did not answer at {url} in time.")
        time.sleep(0.1)
    return process.pid


def register(app: typer.Typer) -> None:
    """Add `studio` to the main app."""
    app.command()(studio)
