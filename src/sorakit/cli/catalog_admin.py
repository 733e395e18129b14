"""`sorakit aliases` and `sorakit prices`: the catalog's run-time overrides, kept in the ledger.

They write the same rows as the admin API, so a running `sorakit serve` on this ledger applies a
change within a few seconds, without a restart.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sorakit.cli.common import Home, Verbose, run
from sorakit.cli.output import plain_table, print_table, stderr

if TYPE_CHECKING:
    from sorakit.client import AsyncClient

aliases_app = typer.Typer(
    name="aliases",
    help="Route model names to other models (over the settings).",
    no_args_is_help=True,
)
prices_app = typer.Typer(
    name="prices",
    help="Override the USD prices that estimates and budgets use.",
    no_args_is_help=True,
)

JsonOutput = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@aliases_app.command("list")
def list_aliases(as_json: JsonOutput = False, home: Home = None, verbose: Verbose = 0) -> None:
    """Every alias in force, from the settings file or set here."""
    from sorakit.catalog.sync import alias_views

    async def read(client: AsyncClient) -> list[dict[str, Any]]:
        return alias_views((await client.engine()).catalog)

    views = run(read, home=home, verbose=verbose)
    if as_json:
        typer.echo(json.dumps(views, indent=2))
        return
    table = plain_table("alias", "target", "source")
    for view in views:
        table.add_row(view["alias"], view["target"], view["source"])
    print_table(table)


@aliases_app.command("set")
def set_alias(
    name: Annotated[str, typer.Argument(help="The name apps send (e.g. sora-2).")],
    target: Annotated[str, typer.Argument(help="The model that serves it.")],
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """Route NAME to the model TARGET (it wins over a settings alias of the same name)."""
    from sorakit.catalog import sync

    async def go(client: AsyncClient) -> None:
        engine = await client.engine()
        await sync.set_alias(engine.catalog, engine.ledger, name, target)

    run(go, home=home, verbose=verbose)
    stderr.print(f"alias: {name} -> {target}", markup=False)


@aliases_app.command("remove")
def remove_alias(
    name: Annotated[str, typer.Argument(help="An alias set with `sorakit aliases set`.")],
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """Remove an alias set here (a settings alias of the same name applies again)."""
    from sorakit.catalog import sync

    async def go(client: AsyncClient) -> str | None:
        engine = await client.engine()
        await sync.remove_alias(engine.catalog, engine.ledger, name)
        return engine.catalog.aliases.get(name)

    now = run(go, home=home, verbose=verbose)
    stderr.print(
        f"alias {name} removed" + (f" (the settings route it to {now})" if now else ""),
        markup=False,
    )


@prices_app.command("list")
def list_prices(
    every: Annotated[
        bool, typer.Option("--all", help="Every model, not only repriced ones.")
    ] = False,
    as_json: JsonOutput = False,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """The prices in force (USD), beside each model's list price."""
    from sorakit.catalog.sync import price_view

    async def read(client: AsyncClient) -> list[dict[str, Any]]:
        catalog = (await client.engine()).catalog
        views = [price_view(catalog, entry.name) for entry in catalog]
        return [v for v in views if every or v["overridden"]]

    views = run(read, home=home, verbose=verbose)
    if as_json:
        typer.echo(json.dumps(views, indent=2))
        return
    table = plain_table("model", "$/s now", "list $/s", "per clip now", "source")
    for view in views:
        table.add_row(
            view["model"],
            _rates(view["usd_per_second"]),
            _rates(view["list_price"]["usd_per_second"]),
            ", ".join(f"{c['size']}/{c['seconds']}s ${c['usd']:g}" for c in view["usd_per_clip"]),
            "admin" if view["overridden"] else "catalog",
        )
    print_table(table)


def _rates(per_second: dict[str, float]) -> str:
    values = sorted(set(per_second.values()))
    if len(values) == 1:
        return f"{values[0]:g}"
    return ", ".join(f"{size} {usd:g}" for size, usd in per_second.items()) or "?"


@prices_app.command("set")
def set_price(
    model: Annotated[str, typer.Argument(help="A model's name.")],
    per_second: Annotated[
        float | None, typer.Option("--per-second", help="USD per output second.")
    ] = None,
    sizes: Annotated[
        list[str] | None,
        typer.Option("--size", help="Only at this WxH (repeat); default every size."),
    ] = None,
    clips: Annotated[
        list[str] | None,
        typer.Option("--clip", help="A per-clip price, WxH:SECONDS=USD (repeat)."),
    ] = None,
    per_image: Annotated[
        float | None, typer.Option("--per-image", help="USD per image (image models).")
    ] = None,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """Price MODEL's new jobs as given; what is not named keeps the list price."""
    from sorakit.catalog import sync

    value: dict[str, Any] = {}
    if per_second is not None:
        value["usd_per_second"] = dict.fromkeys(sizes, per_second) if sizes else per_second
    if clips:
        value["usd_per_clip"] = [_clip(c) for c in clips]
    if per_image is not None:
        value["usd_per_image"] = dict.fromkeys(sizes, per_image) if sizes else per_image

    async def go(client: AsyncClient) -> dict[str, Any]:
        engine = await client.engine()
        await sync.set_price(engine.catalog, engine.ledger, model, value)
        return sync.price_view(engine.catalog, model)

    view = run(go, home=home, verbose=verbose)
    typer.echo(json.dumps(view, indent=2))


def _clip(text: str) -> dict[str, Any]:
    size, _, rest = text.partition(":")
    seconds, _, usd = rest.partition("=")
    try:
        return {"size": size, "seconds": int(seconds), "usd": float(usd)}
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not WxH:SECONDS=USD", param_hint="--clip") from None


@prices_app.command("remove")
def remove_price(
    model: Annotated[str, typer.Argument(help="A model's name.")],
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """Back to MODEL's list price."""
    from sorakit.catalog import sync

    async def go(client: AsyncClient) -> None:
        engine = await client.engine()
        await sync.remove_price(engine.catalog, engine.ledger, model)

    run(go, home=home, verbose=verbose)
    stderr.print(f"{model}: back to the list price", markup=False)
