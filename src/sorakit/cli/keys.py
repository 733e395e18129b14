"""`sorakit keys`: the gateway's API keys (created here, shown once, stored as a hash)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer

from sorakit.cli.common import Home, Verbose, run
from sorakit.cli.output import plain_table, print_table, stderr
from sorakit.errors import NotFoundError

if TYPE_CHECKING:
    from sorakit.client import AsyncClient
    from sorakit.ledger import ApiKeyRecord
    from sorakit.ledger.pipelines import UsageRow

app = typer.Typer(name="keys", help="The gateway's API keys.", no_args_is_help=True)


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="Who the key is for.")],
    budget: Annotated[
        float | None, typer.Option("--budget", help="The most its videos may cost, in USD.")
    ] = None,
    rpm: Annotated[
        float | None, typer.Option("--rpm", help="Videos it may create per minute.")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", help="Videos it may have in progress.")
    ] = None,
    models: Annotated[
        list[str] | None, typer.Option("--model", "-m", help="A model it may use; repeat.")
    ] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Sees and manages everything.")] = False,
    webhook_url: Annotated[
        str | None,
        typer.Option("--webhook-url", help="Where its videos' signed events are POSTed."),
    ] = None,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """Create a key and print it (this once: only its hash is kept).

    With --webhook-url, the webhook's signing secret is printed first, also this once.
    """

    async def make(client: AsyncClient) -> tuple[ApiKeyRecord, str, str | None]:
        from sorakit.server.webhooks import tenant_webhook

        engine = await client.engine()
        secret, sealed = (
            await tenant_webhook(client.settings, webhook_url) if webhook_url else (None, None)
        )
        key, token = await engine.ledger.create_key(
            name,
            admin=admin,
            budget_usd=budget,
            rpm=rpm,
            concurrency=concurrency,
            models=models,
            webhook_url=webhook_url,
            webhook_secret=sealed,
        )
        return key, token, secret

    key, token, secret = run(make, home=home, verbose=verbose)
    if secret:
        stderr.print(
            f"{key.id} ({key.name}): its webhook secret, then its key; shown this once, store "
            "them now",
            markup=False,
        )
        typer.echo(secret)
    else:
        stderr.print(f"{key.id} ({key.name}): shown this once, store it now", markup=False)
    typer.echo(token)


@app.command()
def webhook(
    key_id: Annotated[str, typer.Argument(help="The key's id (key_…).")],
    url: Annotated[str | None, typer.Argument(help="Where its videos' events go.")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the key's webhook.")] = False,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """Point a key's webhook at URL with a new signing secret (printed this once), or --clear it."""
    if (url is None) == (not clear):
        raise typer.BadParameter("give a URL or --clear (not both)")

    async def go(client: AsyncClient) -> tuple[ApiKeyRecord, str | None]:
        from sorakit.server.webhooks import tenant_webhook

        ledger = (await client.engine()).ledger
        if await ledger.get_key(key_id) is None:
            raise NotFoundError(f"No API key with id '{key_id}'.", param="key_id")
        secret, sealed = await tenant_webhook(client.settings, url) if url else (None, None)
        return await ledger.set_key_webhook(key_id, url, sealed), secret

    key, secret = run(go, home=home, verbose=verbose)
    if secret is None:
        stderr.print(f"{key.id} ({key.name}): webhook removed", markup=False)
        return
    stderr.print(f"{key.id} ({key.name}): webhook secret, shown this once", markup=False)
    typer.echo(secret)


@app.command("list")
def list_keys(
    include_revoked: Annotated[bool, typer.Option("--all", help="Revoked keys too.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """List keys with their limits (never their secrets)."""

    async def listing(client: AsyncClient) -> list[ApiKeyRecord]:
        return await (await client.engine()).ledger.list_keys(include_revoked=include_revoked)

    keys = run(listing, home=home, verbose=verbose)
    if as_json:
        typer.echo(json.dumps([k.public() for k in keys], indent=2))
        return
    table = plain_table(
        "id", "name", "prefix", "role", "budget", "rpm", "concurrency", "models", "webhook", "state"
    )
    for key in keys:
        table.add_row(
            key.id,
            key.name,
            f"sk-sorakit-{key.prefix}-…",
            "admin" if key.admin else "tenant",
            "" if key.budget_usd is None else f"${key.budget_usd:.2f}",
            "" if key.rpm is None else f"{key.rpm:g}",
            "" if key.concurrency is None else str(key.concurrency),
            ", ".join(key.models) if key.models else "all",
            key.webhook_url or "",
            "revoked " + dt.datetime.fromtimestamp(key.revoked_at).strftime("%Y-%m-%d %H:%M")
            if key.revoked_at
            else "active",
        )
    print_table(table)


@app.command()
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (key_…).")],
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """Revoke a key; its videos stay in the ledger."""

    async def go(client: AsyncClient) -> ApiKeyRecord:
        return await (await client.engine()).ledger.revoke_key(key_id)

    key = run(go, home=home, verbose=verbose)
    stderr.print(f"{key.id} ({key.name}) revoked", markup=False)


def usage(
    days: Annotated[int, typer.Option("--days", "-d", help="How far back.")] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """Jobs and spend per API key, model and day."""
    import time

    async def read(client: AsyncClient) -> tuple[list[UsageRow], dict[str, str]]:
        ledger = (await client.engine()).ledger
        names = {k.id: k.name for k in await ledger.list_keys(include_revoked=True)}
        return await ledger.usage(since=time.time() - days * 86400), names

    from sorakit.ledger.records import amount_text

    rows, names = run(read, home=home, verbose=verbose)
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in rows], indent=2))
        return
    table = plain_table("day", "key", "model", "jobs", "spent", "reserved")
    for row in rows:
        owner = f"{names.get(row.owner, '?')} ({row.owner})" if row.owner else "(no key)"
        table.add_row(
            row.day,
            owner,
            row.model,
            str(row.jobs),
            amount_text(row.committed, row.unpriced_jobs),
            f"${row.reserved:.2f}",
        )
    total = sum(r.committed for r in rows)
    unpriced = sum(r.unpriced_jobs for r in rows)
    print_table(table)
    stderr.print(f"spent {amount_text(total, unpriced)} over {days} days", markup=False)
