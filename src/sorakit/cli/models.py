"""`sorakit models`: every model with its provider, capabilities and price."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from sorakit.catalog import ModelEntry, build_catalog
from sorakit.providers.registry import is_configured
from sorakit.settings import get_settings


def models(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the models, their provider, sizes, seconds and price."""
    settings = get_settings()
    catalog = build_catalog(settings)
    entries: list[ModelEntry] = list(catalog)
    if as_json:
        rows = [_row(e, is_configured(e.provider, settings)) for e in entries]
        typer.echo(json.dumps({"models": rows, "aliases": catalog.aliases}, indent=2))
        return
    table = Table("model", "provider", "key", "sizes", "seconds", "$/s", "features")
    for entry in entries:
        caps = entry.capabilities
        prices = [f"{p:.2f}" for p in sorted(set(caps.price_per_second.values()))]
        prices += [f"{p:.2f}/clip" for p in sorted(set(caps.price_per_clip.values()))]
        features = [
            name for name in ("remix", "extension", "edit", "characters") if getattr(caps, name)
        ]
        if caps.image_reference:
            features.insert(0, "image")
        if caps.last_frame:
            features.insert(1, "last frame")
        if caps.reference_images:
            features.append(f"{caps.reference_images} refs")
        sizes = " ".join(caps.sizes) if len(caps.sizes) <= 4 else f"{len(caps.sizes)} sizes"
        table.add_row(
            entry.name,
            entry.provider,
            "yes" if is_configured(entry.provider, settings) else "no",
            sizes,
            f"{caps.seconds[0]}-{caps.seconds[-1]}"
            if len(caps.seconds) > 3
            else " ".join(map(str, caps.seconds)),
            " / ".join(prices) or "?",
            ", ".join(features),
        )
    console = Console()
    console.print(table)
    for alias, target in catalog.aliases.items():
        console.print(f"alias: {alias} -> {target}", markup=False)


def _row(entry: ModelEntry, configured: bool) -> dict[str, Any]:
    """An entry as JSON: per-clip prices keyed `"WxH/S"` (JSON keys cannot be pairs)."""
    row = asdict(entry)
    row["capabilities"]["price_per_clip"] = {
        f"{size}/{seconds}": price
        for (size, seconds), price in entry.capabilities.price_per_clip.items()
    }
    row["configured"] = configured
    return row


def register(app: typer.Typer) -> None:
    """Add `models` to the main app."""
    app.command()(models)
