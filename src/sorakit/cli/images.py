"""`sorakit image`: make or edit images; the saved paths on stdout, the last line the last image."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sorakit.cli.common import ApiKey, BaseUrl, Home, Verbose, run
from sorakit.cli.output import stderr

if TYPE_CHECKING:
    from sorakit.client import AsyncClient
    from sorakit.ledger import JobRecord


def image(
    prompt: Annotated[str, typer.Argument(help="What the image shows (or how to change it).")],
    model: Annotated[
        str, typer.Option("--model", "-m", help="An image model from `sorakit models`.")
    ] = "gpt-image-1",
    size: Annotated[
        str | None, typer.Option("--size", help="WxH (or auto); see `sorakit models`.")
    ] = None,
    n: Annotated[int, typer.Option("--n", "-n", help="How many images (1 to 10).")] = 1,
    edit: Annotated[
        list[Path] | None,
        typer.Option("--edit", "-e", help="An image to edit; repeat for several."),
    ] = None,
    mask: Annotated[
        Path | None,
        typer.Option(
            "--mask", help="A PNG the first --edit image's size; its clear area is repainted."
        ),
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", "-f", help="png, jpeg or webp.")
    ] = "png",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Copy the images into this folder.")
    ] = None,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """Make images (or edit --edit images) and print their paths."""

    async def make(client: AsyncClient) -> list[JobRecord]:
        return await client.image(
            prompt,
            model=model,
            size=size,
            n=n,
            output_format=output_format,
            edit=edit or (),
            mask=mask,
        )

    jobs = run(make, base_url=base_url, api_key=api_key, home=home, verbose=verbose)
    for change in jobs[0].options.get("changes", []):
        stderr.print(f"note: {change}", markup=False)
    for job in jobs:
        path = Path(job.assets["image"].path)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            path = Path(shutil.copyfile(path, out / f"{job.id}{path.suffix}"))
        stderr.print(f"{job.id} completed: {job.size}", markup=False)
        typer.echo(str(path))


def register(app: typer.Typer) -> None:
    """Add `image` to the main app."""
    app.command()(image)
