"""`sorakit generate`, `remix` and `extend`: progress on stderr, the saved path last on stdout."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from sorakit.cli.common import ApiKey, BaseUrl, Home, Verbose, run
from sorakit.cli.output import job_progress, stderr

if TYPE_CHECKING:
    from sorakit.client import AsyncClient
    from sorakit.engine import FitMode
    from sorakit.ledger import JobRecord

Out = Annotated[Path | None, typer.Option("--out", "-o", help="Copy the video into this folder.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
Snap = Annotated[
    bool,
    typer.Option(
        "--snap", help="Move seconds/size to the nearest values the model allows, and say so."
    ),
]


def _deliver(job: JobRecord, out: Path | None) -> None:
    """Report what planning changed, then print the saved path as the last stdout line."""
    for change in job.options.get("changes", []):
        stderr.print(f"note: {change}", markup=False)
    enhanced = job.options.get("enhanced") or {}
    if enhanced.get("note"):
        stderr.print(f"warning: {enhanced['note']}", markup=False)
    path = Path(job.video_path or "")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        target = out / f"{job.id}.mp4"
        shutil.copyfile(path, target)
        path = target
    stderr.print(f"{job.id} completed: {job.total_seconds} s, {job.size}", markup=False)
    typer.echo(str(path))


def generate(
    prompt: Annotated[str, typer.Argument(help="What the video shows.")],
    model: Annotated[
        str, typer.Option("--model", "-m", help="A model from `sorakit models`.")
    ] = "sora-2",
    seconds: Annotated[str | None, typer.Option("--seconds", "-s", help="Clip length.")] = None,
    size: Annotated[
        str | None, typer.Option("--size", help="WxH, a word (landscape...) or a ratio (16:9).")
    ] = None,
    reference: Annotated[
        Path | None, typer.Option("--reference", "-r", help="An image to use as the first frame.")
    ] = None,
    last_frame: Annotated[
        Path | None,
        typer.Option("--last-frame", help="An image to end on (models with 'last frame')."),
    ] = None,
    reference_images: Annotated[
        list[Path] | None,
        typer.Option(
            "--reference-image",
            "-R",
            help="A subject or style image; repeat for several (models with 'refs').",
        ),
    ] = None,
    fit: Annotated[
        str,
        typer.Option(
            "--fit", help="How a reference of another size is fitted: crop, letterbox, pad."
        ),
    ] = "crop",
    snap: Snap = False,
    enhance: Annotated[
        str | None,
        typer.Option("--enhance", help="Rewrite the prompt first: director, pixar or clean."),
    ] = None,
    out: Out = None,
    quiet: Quiet = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """Make a video and print its path."""
    if fit not in ("crop", "letterbox", "pad"):
        raise typer.BadParameter("--fit must be crop, letterbox or pad")
    fit_mode = cast("FitMode", fit)
    if enhance is not None:
        from sorakit.pipelines.enhance import check_style

        check_style(enhance)  # an unknown style is refused before anything runs

    async def make(client: AsyncClient) -> JobRecord:
        with job_progress(not quiet) as progress:
            return await client.generate(
                prompt,
                model=model,
                seconds=seconds,
                size=size,
                reference=reference,
                last_frame=last_frame,
                reference_images=reference_images or (),
                snap=snap,
                fit=fit_mode,
                enhance=enhance,
                on_progress=progress,
            )

    _deliver(run(make, base_url=base_url, api_key=api_key, home=home, verbose=verbose), out)


def remix(
    video_id: Annotated[str, typer.Argument(help="A completed video's id.")],
    prompt: Annotated[str, typer.Argument(help="The change to make.")],
    out: Out = None,
    quiet: Quiet = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """Remix a completed video and print the new video's path."""

    async def make(client: AsyncClient) -> JobRecord:
        with job_progress(not quiet) as progress:
            return await client.remix(video_id, prompt, on_progress=progress)

    _deliver(run(make, base_url=base_url, api_key=api_key, home=home, verbose=verbose), out)


def extend(
    video_id: Annotated[str, typer.Argument(help="A completed video's id.")],
    prompt: Annotated[str, typer.Argument(help="What happens next.")],
    seconds: Annotated[str, typer.Option("--seconds", "-s", help="Seconds to add.")] = "4",
    snap: Snap = False,
    out: Out = None,
    quiet: Quiet = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """Extend a completed video and print the stitched video's path."""

    async def make(client: AsyncClient) -> JobRecord:
        with job_progress(not quiet) as progress:
            return await client.extend(video_id, prompt, seconds, snap=snap, on_progress=progress)

    _deliver(run(make, base_url=base_url, api_key=api_key, home=home, verbose=verbose), out)


def register(app: typer.Typer) -> None:
    """Add the video commands to the main app."""
    app.command()(generate)
    app.command()(remix)
    app.command()(extend)
