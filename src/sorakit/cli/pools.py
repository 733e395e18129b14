"""`sorakit pools`: upstream credential pools (several keys per provider, sealed at rest)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sorakit.cli.common import Home, Verbose, run
from sorakit.cli.output import plain_table, print_table, stderr

if TYPE_CHECKING:
    from sorakit.client import AsyncClient
    from sorakit.engine.upstream import PoolAdmin

app = typer.Typer(
    name="pools",
    help="Upstream credential pools: several keys per provider, picked per job.",
    no_args_is_help=True,
)

Provider = Annotated[str, typer.Argument(help="fal, runway, gemini, vertex or openai.")]
CredentialId = Annotated[str, typer.Argument(help="The credential's id (cred_… or fal.env).")]


async def _admin(client: AsyncClient) -> PoolAdmin:
    from sorakit.engine.upstream import PoolAdmin

    return PoolAdmin((await client.engine()).upstream)


@app.command("list")
def list_pools(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """Every pool's credentials and their state (never their secrets)."""

    async def go(client: AsyncClient) -> list[dict[str, Any]]:
        return await (await _admin(client)).describe()

    pools = run(go, home=home, verbose=verbose)
    if as_json:
        typer.echo(json.dumps(pools, indent=2))
        return
    table = plain_table("provider", "id", "label", "state", "in flight", "jobs", "last error")
    for pool in pools:
        for credential in pool["credentials"]:
            state = credential["state"]
            if state == "cooling":
                until = dt.datetime.fromtimestamp(credential["cooldown_until"])
                state = f"cooling until {until:%H:%M:%S}"
            elif state == "disabled":
                state = f"disabled: {credential['disabled_reason']}"
            limit = credential["max_concurrency"]
            table.add_row(
                f"{pool['provider']} ({pool['strategy']})",
                credential["id"],
                credential["label"],
                state,
                f"{credential['in_flight']}/{limit}" if limit else str(credential["in_flight"]),
                str(credential["jobs_submitted"]),
                credential["last_error"] or "",
            )
    print_table(table)


@app.command()
def add(
    provider: Provider,
    label: Annotated[str | None, typer.Option("--label", "-l", help="A name for it.")] = None,
    max_concurrency: Annotated[
        int | None,
        typer.Option("--max-concurrency", min=1, help="Jobs it may run at once."),
    ] = None,
    proxy: Annotated[
        str | None, typer.Option("--proxy", help="http://, https:// or socks5:// proxy for it.")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="Its own API base URL (openai servers).")
    ] = None,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """Add a credential; its secret is read from standard input (or a hidden prompt), never
    from the command line, where other users could see it."""
    if sys.stdin.isatty():
        secret = typer.prompt(f"{provider} secret", hide_input=True)
    else:
        secret = sys.stdin.readline().strip()

    async def go(client: AsyncClient) -> dict[str, Any]:
        admin = await _admin(client)
        record = await admin.add(
            provider,
            secret=secret,
            label=label,
            max_concurrency=max_concurrency,
            proxy=proxy,
            base_url=base_url,
        )
        return record.public()

    added = run(go, home=home, verbose=verbose)
    stderr.print(f"added {added['id']} ({added['label']}) to the {provider} pool", markup=False)
    typer.echo(added["id"])


def _change(credential_id: str, home: Any, verbose: int, **changes: Any) -> dict[str, Any]:
    async def go(client: AsyncClient) -> dict[str, Any]:
        return (await (await _admin(client)).change(credential_id, **changes)).public()

    return run(go, home=home, verbose=verbose)


@app.command()
def enable(credential_id: CredentialId, home: Home = None, verbose: Verbose = 0) -> None:
    """Put a credential back in rotation (its failures and cool-down are cleared)."""
    changed = _change(credential_id, home, verbose, enabled=True)
    stderr.print(f"{changed['id']} ({changed['label']}) enabled", markup=False)


@app.command()
def disable(credential_id: CredentialId, home: Home = None, verbose: Verbose = 0) -> None:
    """Take a credential out of rotation; its running jobs finish on it."""
    changed = _change(credential_id, home, verbose, enabled=False)
    stderr.print(f"{changed['id']} ({changed['label']}) disabled", markup=False)


@app.command()
def remove(credential_id: CredentialId, home: Home = None, verbose: Verbose = 0) -> None:
    """Forget a stored credential (refused while jobs it created are unfinished)."""

    async def go(client: AsyncClient) -> None:
        await (await _admin(client)).remove(credential_id)

    run(go, home=home, verbose=verbose)
    stderr.print(f"{credential_id} removed", markup=False)


@app.command("set")
def configure(
    provider: Provider,
    strategy: Annotated[
        str | None, typer.Option("--strategy", help="round-robin or least-loaded.")
    ] = None,
    proxy: Annotated[
        str | None, typer.Option("--proxy", help="The proxy of the environment's credential.")
    ] = None,
    no_proxy: Annotated[bool, typer.Option("--no-proxy", help="Remove that proxy.")] = False,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """Set how a pool picks its credentials, and the proxy its environment credential uses."""

    async def go(client: AsyncClient) -> dict[str, Any]:
        admin = await _admin(client)
        return await admin.configure(provider, strategy=strategy, proxy=proxy, clear_proxy=no_proxy)

    pool = run(go, home=home, verbose=verbose)
    proxied = "through its proxy" if pool["has_proxy"] else "direct"
    stderr.print(f"{provider}: {pool['strategy']}, {proxied}", markup=False)


@app.command()
def keygen() -> None:
    """Print a new random key for SORAKIT_SECRET_KEY."""
    from sorakit.security.secretbox import generate_key

    typer.echo(generate_key())


@app.command()
def rekey(home: Home = None, verbose: Verbose = 0) -> None:
    """Seal every stored secret again with the first key of SORAKIT_SECRET_KEY (after putting a
    new key in front of the old one)."""

    async def go(client: AsyncClient) -> int:
        return await (await _admin(client)).reseal()

    count = run(go, home=home, verbose=verbose)
    stderr.print(f"sealed {count} secrets with the first key", markup=False)
