"""`sorakit long`: a long video from planned segments; the stitched path is the last stdout line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from sorakit.cli.common import ApiKey, BaseUrl, Home, Verbose, run
from sorakit.cli.output import job_progress, jobs_cost, stderr

if TYPE_CHECKING:
    from sorakit.client import AsyncClient
    from sorakit.pipelines.long import Continuity, LongVideo
    from sorakit.pipelines.planner import Plan, PlannerMode

_MODES = ("chain", "extend", "keyframes")
_PLANNERS = ("auto", "offline", "chat")


def long(
    prompt: Annotated[str, typer.Argument(help="The story of the whole video.")],
    seconds: Annotated[int, typer.Option("--seconds", "-s", help="Total length.")] = 60,
    model: Annotated[str, typer.Option("--model", "-m", help="A model from `sorakit models`.")] = (
        "sora-2"
    ),
    size: Annotated[str | None, typer.Option("--size", help="WxH or an aspect (16:9).")] = None,
    segments: Annotated[
        int | None, typer.Option("--segments", "-n", help="Exactly this many segments.")
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode", help="chain (last frame), extend (model extension) or keyframes (parallel)."
        ),
    ] = "chain",
    crossfade: Annotated[
        float, typer.Option("--crossfade", help="Seconds of crossfade at each seam.")
    ] = 0.0,
    reference: Annotated[
        Path | None, typer.Option("--reference", "-r", help="An image the video starts from.")
    ] = None,
    planner: Annotated[
        str | None, typer.Option("--planner", help="auto, offline or chat (default: settings).")
    ] = None,
    plan: Annotated[
        Path | None, typer.Option("--plan", help="A saved (edited) plan to render.")
    ] = None,
    plan_only: Annotated[
        bool, typer.Option("--plan-only", help="Write the plan to --out (or .) and stop.")
    ] = False,
    budget: Annotated[
        float | None, typer.Option("--budget", help="The most this video may cost, in USD.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder to write the video's folder into.")
    ] = None,
    enhance: Annotated[
        str | None,
        typer.Option("--enhance", help="Rewrite the prompt first: director, pixar or clean."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """Make a long video from planned segments and print the stitched video's path."""
    if mode not in _MODES:
        raise typer.BadParameter(f"--mode must be one of {', '.join(_MODES)}")
    if planner is not None and planner not in _PLANNERS:
        raise typer.BadParameter(f"--planner must be one of {', '.join(_PLANNERS)}")
    continuity = cast("Continuity", mode)
    if enhance is not None:
        from sorakit.pipelines.enhance import check_style

        check_style(enhance)
    chosen = cast("PlannerMode | None", planner)

    if plan_only:

        async def make_plan(client: AsyncClient) -> Plan:
            return await client.plan_long(
                prompt, seconds, model=model, segments=segments, mode=continuity, planner=chosen
            )

        made = run(make_plan, base_url=base_url, api_key=api_key, home=home, verbose=verbose)
        path = (out or Path.cwd()) / "plan.json"
        made.save(path)
        for note in made.notes:
            stderr.print(f"note: {note}", markup=False)
        stderr.print(
            f"{len(made.segments)} segments ({' + '.join(map(str, made.seconds))} s); edit the "
            "prompts, then render with --plan",
            markup=False,
        )
        typer.echo(str(path))
        return

    async def make(client: AsyncClient) -> LongVideo:
        with job_progress(not quiet) as progress:
            return await client.long(
                prompt,
                seconds,
                model=model,
                size=size,
                segments=segments,
                mode=continuity,
                crossfade=crossfade,
                reference=reference,
                planner=chosen,
                plan=plan,
                budget_usd=budget,
                out=out,
                enhance=enhance,
                on_progress=progress,
            )

    result = run(make, base_url=base_url, api_key=api_key, home=home, verbose=verbose)
    for note in result.notes + result.plan.notes:
        stderr.print(f"note: {note}", markup=False)
    cost = jobs_cost([*result.keyframes, *result.segments])
    stderr.print(
        f"{result.pipeline.id} completed: {len(result.segments)} segments, {seconds} s, "
        f"{cost}; parts in {result.folder}",
        markup=False,
    )
    typer.echo(str(result.video))


def register(app: typer.Typer) -> None:
    """Add the pipeline commands to the main app."""
    app.command()(long)
