"""`sorakit models`: every model with its provider, capabilities (per mode) and price."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.console import Console

from sorakit.catalog import Catalog, ModelCapabilities, ModelEntry, build_catalog
from sorakit.cli.output import plain_table
from sorakit.providers.local import local_hint
from sorakit.providers.registry import is_configured
from sorakit.settings import Settings, get_settings


def models(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the models, their provider, sizes, seconds and price."""
    settings = get_settings()
    catalog = build_catalog(settings)
    entries: list[ModelEntry] = catalog.videos()
    if as_json:
        typer.echo(json.dumps(listing(catalog, settings), indent=2))
        return
    table = plain_table("model", "provider", "key", "sizes", "seconds", "$/s", "features")
    for entry in entries:
        caps = entry.capabilities
        prices = [f"{p:.2f}" for p in sorted(set(caps.price_per_second.values()))]
        prices += [f"{p:.2f}/clip" for p in sorted(set(caps.price_per_clip.values()))]
        features = [
            name for name in ("remix", "extension", "edit", "characters") if getattr(caps, name)
        ]
        if caps.image_reference:
            features.insert(0, "image" if caps.text_to_video else "image only")
        if caps.last_frame:
            features.insert(1, "last frame")
        if caps.reference_images:
            features.append(f"{caps.reference_images} refs")
        table.add_row(
            entry.name,
            entry.provider,
            "yes" if is_configured(entry.provider, settings) else "no",
            _per_mode(caps, lambda c: _sizes_text(c.sizes)),
            _per_mode(caps, lambda c: _seconds_text(c.seconds)),
            " / ".join(prices) or "?",
            ", ".join(features),
        )
    console = Console()
    console.print(table)
    if images := catalog.images():
        console.print(_image_table(images, settings))
    for alias, target in catalog.aliases.items():
        console.print(f"alias: {alias} -> {target}", markup=False)
    hint = local_hint()
    if hint:
        console.print(hint, markup=False, soft_wrap=True)


def listing(catalog: Catalog, settings: Settings) -> dict[str, Any]:
    """`sorakit models --json`: every model as JSON (the MCP `list_models` tool says the same);
    the image models apart, under `image_models`."""
    rows = [_row(e, is_configured(e.provider, settings)) for e in catalog.videos()]
    images = [_row(e, is_configured(e.provider, settings)) for e in catalog.images()]
    return {"models": rows, "image_models": images, "aliases": catalog.aliases}


def _image_table(entries: list[ModelEntry], settings: Settings) -> Any:
    """The image models (`sorakit image`, `/v1/images`): sizes, $/image, edits."""
    table = plain_table("image model", "provider", "key", "sizes", "$/image", "features")
    for entry in entries:
        caps = entry.capabilities
        prices = sorted(set(caps.price_per_image.values()))
        features = [f"edit ({caps.reference_images} images)"] if caps.image_edit else []
        features += ["mask"] if caps.mask else []
        features += [f"aliases {', '.join(entry.aliases)}"] if entry.aliases else []
        table.add_row(
            entry.name,
            entry.provider,
            "yes" if is_configured(entry.provider, settings) else "no",
            _sizes_text(caps.sizes),
            " / ".join(f"{p:.3f}" for p in prices) or "?",
            ", ".join(features),
        )
    return table


def _sizes_text(sizes: tuple[str, ...]) -> str:
    return " ".join(sizes) if len(sizes) <= 4 else f"{len(sizes)} sizes"


def _seconds_text(seconds: tuple[int, ...]) -> str:
    return f"{seconds[0]}-{seconds[-1]}" if len(seconds) > 3 else " ".join(map(str, seconds))


def _per_mode(caps: ModelCapabilities, show: Callable[[ModelCapabilities], str]) -> str:
    """One value where every mode agrees, else a `mode: value` line per mode."""
    shown = {mode: show(caps.for_mode(mode)) for mode in caps.modes()}
    if len(set(shown.values())) <= 1:
        return show(caps)
    return "\n".join(f"{mode}: {text}" for mode, text in shown.items())


def _row(entry: ModelEntry, configured: bool) -> dict[str, Any]:
    """An entry as JSON: per-clip prices keyed `"WxH/S"` (JSON keys cannot be pairs), and the
    sizes and seconds of each mode under `modes`."""
    caps = entry.capabilities
    row = asdict(entry)
    row["capabilities"]["price_per_clip"] = {
        f"{size}/{seconds}": price for (size, seconds), price in caps.price_per_clip.items()
    }
    row["modes"] = {
        mode: {
            "sizes": list(moded.sizes),
            "seconds": list(moded.seconds),
            "default_size": moded.default_size,
            "default_seconds": moded.default_seconds,
        }
        for mode in caps.modes()
        for moded in [caps.for_mode(mode)]
    }
    row["configured"] = configured
    return row


def register(app: typer.Typer) -> None:
    """Add `models` to the main app."""
    app.command()(models)
