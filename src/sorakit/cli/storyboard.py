"""`sorakit storyboard`, `remix-chain`, `variations` and `styles`: the result's path goes last."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sorakit.cli.common import ApiKey, BaseUrl, Home, Verbose, run
from sorakit.cli.output import job_progress, jobs_cost, stderr

if TYPE_CHECKING:
    from sorakit.client import AsyncClient
    from sorakit.pipelines.remixes import RemixChain
    from sorakit.pipelines.shots import StoryboardVideo
    from sorakit.pipelines.variations import Takes

Model = Annotated[str, typer.Option("--model", "-m", help="A model from `sorakit models`.")]
Size = Annotated[str | None, typer.Option("--size", help="WxH or an aspect (16:9).")]
Out = Annotated[
    Path | None, typer.Option("--out", "-o", help="Folder to write the pipeline's folder into.")
]
Budget = Annotated[float | None, typer.Option("--budget", help="The most it may cost, in USD.")]
Enhance = Annotated[
    str | None,
    typer.Option("--enhance", help="Rewrite the prompt first: director, pixar or clean."),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


def _check_enhance(style: str | None) -> None:
    """Refuse an unknown --enhance style before anything runs (one line, exit 2)."""
    from sorakit.pipelines.enhance import check_style

    if style is not None:
        check_style(style)


def _notes(notes: list[str]) -> None:
    for note in notes:
        stderr.print(f"note: {note}", markup=False)


def storyboard(
    storyboard: Annotated[
        str, typer.Argument(help="A storyboard file (YAML/JSON/text) or text: '[5s] … [8s] …'.")
    ],
    model: Model = "sora-2",
    size: Size = None,
    enhance: Enhance = None,
    budget: Budget = None,
    out: Out = None,
    quiet: Quiet = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """Render a storyboard shot by shot, trim and join the shots, and print the video's path."""
    from sorakit.pipelines.shots import StoryboardRequest, Storyboards

    _check_enhance(enhance)
    source = storyboard
    candidate = Path(storyboard).expanduser()
    try:
        if candidate.is_file():  # kept by its full path, so a resume works from anywhere
            source = str(candidate.resolve())
    except (OSError, ValueError):  # text too long or odd for a file name
        pass

    async def make(client: AsyncClient) -> StoryboardVideo:
        request = StoryboardRequest(
            source,
            model=model,
            size=size,
            enhance=enhance,
            budget_usd=budget,
            out=str(out) if out else None,
        )
        with job_progress(not quiet) as progress:
            return await Storyboards(await client.engine()).generate(request, progress)

    result = run(make, base_url=base_url, api_key=api_key, home=home, verbose=verbose)
    _notes(result.notes)
    cost = jobs_cost(result.jobs)
    stderr.print(
        f"{result.pipeline.id} completed: {len(result.shots)} shots, "
        f"{cost}; parts in {result.folder}",
        markup=False,
    )
    typer.echo(str(result.video))


def remix_chain(
    base: Annotated[str, typer.Argument(help="The base clip's prompt, or a completed video id.")],
    step: Annotated[
        list[str], typer.Option("--step", "-s", help="A remix prompt; repeat for each step.")
    ],
    stitch: Annotated[
        bool, typer.Option("--stitch", help="Also join the base and every remix into one video.")
    ] = False,
    crossfade: Annotated[
        float, typer.Option("--crossfade", help="Seconds of crossfade at each seam (--stitch).")
    ] = 0.0,
    model: Model = "sora-2",
    seconds: Annotated[
        int | None, typer.Option("--seconds", help="The base clip's length.")
    ] = None,
    size: Size = None,
    enhance: Enhance = None,
    budget: Budget = None,
    out: Out = None,
    quiet: Quiet = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """Remix a clip again and again, each step from the last result; print the clips' paths."""
    from sorakit.pipelines.remixes import RemixChainRequest, RemixChains

    _check_enhance(enhance)

    async def make(client: AsyncClient) -> RemixChain:
        request = RemixChainRequest(
            base,
            list(step),
            model=model,
            seconds=seconds,
            size=size,
            stitch=stitch,
            crossfade=crossfade,
            enhance=enhance,
            budget_usd=budget,
            out=str(out) if out else None,
        )
        with job_progress(not quiet) as progress:
            return await RemixChains(await client.engine()).generate(request, progress)

    result = run(make, base_url=base_url, api_key=api_key, home=home, verbose=verbose)
    _notes(result.notes)
    stderr.print(
        f"{result.pipeline.id} completed: {len(result.remixes)} remixes of {result.base.id}; "
        f"clips in {result.folder}",
        markup=False,
    )
    for clip in result.clips:
        if clip != result.output:
            typer.echo(str(clip))
    typer.echo(str(result.output))


def variations(
    prompt: Annotated[str, typer.Argument(help="The prompt every take renders.")],
    count: Annotated[int, typer.Option("-n", "--count", help="How many takes.")] = 4,
    model: Model = "sora-2",
    seconds: Annotated[int | None, typer.Option("--seconds", help="Each take's length.")] = None,
    size: Size = None,
    reference: Annotated[
        Path | None, typer.Option("--reference", "-r", help="An image every take starts from.")
    ] = None,
    enhance: Enhance = None,
    budget: Budget = None,
    out: Out = None,
    quiet: Quiet = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """Render N takes of a prompt at once and print each finished take's path."""
    from sorakit.pipelines.variations import Variations, VariationsRequest

    _check_enhance(enhance)

    async def make(client: AsyncClient) -> Takes:
        request = VariationsRequest(
            prompt,
            count=count,
            model=model,
            seconds=seconds,
            size=size,
            reference=str(reference.resolve()) if reference else None,
            enhance=enhance,
            budget_usd=budget,
            out=str(out) if out else None,
        )
        with job_progress(not quiet) as progress:
            return await Variations(await client.engine()).generate(request, progress)

    result = run(make, base_url=base_url, api_key=api_key, home=home, verbose=verbose)
    _notes(result.notes)
    summary = f"{result.pipeline.id}: {len(result.takes)} of {count} takes finished"
    if result.failed:
        summary += "; `sorakit jobs resume` renders the failed ones again"
    if result.sheet:
        summary += f"; contact sheet {result.sheet}"
    stderr.print(summary, markup=False)
    for video in result.videos:
        typer.echo(str(video))


def styles() -> None:
    """List the `{style}` tags a prompt may carry and the --enhance styles."""
    from sorakit.pipelines.enhance import STYLES as ENHANCE
    from sorakit.pipelines.styles import STYLES

    width = max(len(name) for name in STYLES) + 2
    for name, text in sorted(STYLES.items()):
        typer.echo(f"{{{name}}}".ljust(width + 1) + text)
    typer.echo("")
    typer.echo(f"--enhance styles: {', '.join(ENHANCE)}")


def register(app: typer.Typer) -> None:
    """Add the storyboard, remix-chain, variations and styles commands to the main app."""
    app.command()(storyboard)
    app.command("remix-chain")(remix_chain)
    app.command()(variations)
    app.command()(styles)
