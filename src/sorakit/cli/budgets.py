"""`sorakit budgets`: projects, each a named budget whose spend can be started anew.

A project is a budget scope in the ledger: the jobs made under it, and (with `--cap`) the most
they may cost together, checked like every budget when a job is recorded. Without `--key` the
commands act on the keyless ledger's projects; with it, on that API key's.
"""

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
    from sorakit.ledger import Ledger
    from sorakit.ledger.scopes import ScopeRecord, ScopeSpend

app = typer.Typer(
    name="budgets", help="Projects: named budgets you can start anew.", no_args_is_help=True
)

Name = Annotated[str, typer.Argument(help="The project's name (or its scope id).")]
Cap = Annotated[
    str | None,
    typer.Option("--cap", help="The most its videos may cost, in USD ('none': no cap)."),
]
Key = Annotated[
    str | None,
    typer.Option("--key", help="An API key's id (key_…): its projects, not the keyless ones."),
]


async def _ledger(client: AsyncClient, key_id: str | None) -> Ledger:
    ledger = (await client.engine()).ledger
    if key_id is not None and await ledger.get_key(key_id) is None:
        raise NotFoundError(f"No API key with id '{key_id}'.", param="key")
    return ledger


def _cap(scope: ScopeRecord) -> str:
    return "no cap" if scope.cap_usd is None else f"a cap of ${scope.cap_usd:.2f}"


def _when(at: float) -> str:
    return dt.datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M")


@app.command("list")
def list_budgets(
    include_closed: Annotated[
        bool, typer.Option("--all", help="Closed projects and earlier periods too.")
    ] = False,
    key: Key = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """List projects with what they spent, hold in reserve, and have left."""

    async def listing(client: AsyncClient) -> list[ScopeSpend]:
        ledger = await _ledger(client, key)
        return await ledger.list_scopes(owner=key, include_closed=include_closed)

    from sorakit.ledger.records import amount_text

    scopes = run(listing, home=home, verbose=verbose)
    if as_json:
        rows = [{**asdict(s.scope), "spend": asdict(s.spend), "left": s.left} for s in scopes]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = plain_table("id", "name", "cap", "spent", "reserved", "left", "state")
    for item in scopes:
        scope, spend = item.scope, item.spend
        table.add_row(
            scope.id,
            scope.name,
            "" if scope.cap_usd is None else f"${scope.cap_usd:.2f}",
            amount_text(spend.committed, spend.unpriced_jobs),
            f"${spend.reserved:.2f}",
            "" if item.left is None else f"${item.left:.2f}",
            f"open since {_when(scope.created_at)}"
            if scope.closed_at is None
            else f"closed {_when(scope.closed_at)}",
        )
    print_table(table)


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="The project's name, e.g. Trailer.")],
    cap: Cap = None,
    key: Key = None,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """Open a project (with --cap, a budget its videos may not pass); prints its scope id."""
    from sorakit.ledger.scopes import cap_from_text

    cap_usd = cap_from_text(cap or "")

    async def make(client: AsyncClient) -> ScopeRecord:
        ledger = await _ledger(client, key)
        return await ledger.create_scope(name, owner=key, cap_usd=cap_usd)

    scope = run(make, home=home, verbose=verbose)
    stderr.print(f'project "{scope.name}" opened with {_cap(scope)}', markup=False)
    typer.echo(scope.id)


@app.command()
def reset(
    name: Name,
    cap: Cap = None,
    key: Key = None,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """Start a project anew at $0, with its cap (or --cap); what it spent stays in the ledger."""
    from sorakit.ledger.scopes import KEEP, cap_from_text

    cap_usd = KEEP if cap is None else cap_from_text(cap)

    async def go(client: AsyncClient) -> tuple[ScopeRecord, ScopeRecord, float]:
        ledger = await _ledger(client, key)
        old = await ledger.find_scope(name, owner=key)
        new = await ledger.restart_scope(old.id, owner=key, cap_usd=cap_usd)
        return old, new, (await ledger.spend(scope_id=old.id)).total

    old, new, spent = run(go, home=home, verbose=verbose)
    stderr.print(
        f'project "{new.name}" started anew at $0 with {_cap(new)}; the ${spent:.2f} it spent '
        f"before stays in the ledger under {old.id}",
        markup=False,
    )
    typer.echo(new.id)


@app.command()
def close(
    name: Name,
    key: Key = None,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """Close a project: no new video may use it; its spend stays in the ledger."""

    async def go(client: AsyncClient) -> ScopeRecord:
        ledger = await _ledger(client, key)
        return await ledger.close_scope((await ledger.find_scope(name, owner=key)).id, owner=key)

    scope = run(go, home=home, verbose=verbose)
    stderr.print(f'project "{scope.name}" closed ({scope.id})', markup=False)
