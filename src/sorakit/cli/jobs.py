"""`sorakit jobs`: the ledger, as a table or JSON; `show` one job; `resume` the unfinished;
`delete` finished ones."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from sorakit.cli.common import ApiKey, BaseUrl, Home, Verbose, run
from sorakit.cli.errors import exit_code, one_line
from sorakit.cli.output import job_progress, plain_table, print_table, stderr

if TYPE_CHECKING:
    from sorakit.client import AsyncClient
    from sorakit.errors import SorakitError
    from sorakit.ledger import EventRecord, JobRecord, PipelineRecord, Spend
    from sorakit.pipelines.resume import Resumed

app = typer.Typer(name="jobs", help="The ledger of every job.", invoke_without_command=True)
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def job_dict(job: JobRecord, events: list[EventRecord] | None = None) -> dict[str, Any]:
    """A job as plain JSON-able data."""
    data = asdict(job)
    data["status"] = job.status.value
    data["assets"] = {k: asdict(v) for k, v in job.assets.items()}
    data["cost_unknown"] = job.cost_unknown  # `cost` null because no price is known, not $0
    if events is not None:
        data["events"] = [asdict(e) for e in events]
    return data


def _cost_cell(job: JobRecord) -> str:
    """What was charged; an estimate only for a job that may still be charged, and labelled."""
    if job.cost is not None:
        return f"${job.cost:.2f}"
    if not job.status.finished and job.estimated_cost is not None:
        return f"${job.estimated_cost:.2f} est."
    return "unknown" if job.cost_unknown else "-"


def _cost_line(job: JobRecord) -> str:
    """The cost in words for `jobs show`: charged, estimated, or nothing charged."""
    estimate = None if job.estimated_cost is None else f"${job.estimated_cost:.2f}"
    if job.cost is not None:
        return f"${job.cost:.2f} charged"
    if job.cost_unknown:
        return f"unknown (no price is recorded for {job.model} at {job.size})"
    if not job.status.finished:
        return f"{estimate} est., charged when it completes"
    if job.status.value == "completed":  # an older row: completed with its estimate unset as cost
        return f"{estimate} est."
    return f"nothing charged (estimate was {estimate})" if estimate else "nothing charged"


def _when(timestamp: float | None) -> str:
    if not timestamp:
        return ""
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


@app.callback()
def jobs(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many, newest first.")] = 20,
    as_json: Json = False,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """List jobs, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    found = run(lambda client: client.jobs(limit=limit), home=home, verbose=verbose)
    if as_json:
        typer.echo(json.dumps([job_dict(j) for j in found], indent=2))
        return
    rows = plain_table("id", "status", "model", "seconds", "size", "cost", "created", "prompt")
    for job in found:
        rows.add_row(
            job.id,
            job.status.value,
            job.model,
            job.total_seconds,
            job.size,
            _cost_cell(job),
            _when(job.created_at),
            job.prompt[:40],
        )
    print_table(rows)


@app.command()
def pipelines(
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many, newest first.")] = 20,
    as_json: Json = False,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """List pipelines (long videos, storyboards, batches...) with their spend."""

    async def listing(client: AsyncClient) -> list[tuple[PipelineRecord, Spend]]:
        engine = await client.engine()
        found = await engine.ledger.list_pipelines(limit=limit)
        return [(p, await engine.ledger.spend(p.id)) for p in found]

    from sorakit.ledger.records import amount_text

    rows = run(listing, home=home, verbose=verbose)
    if as_json:
        data = [
            {**asdict(p), "status": p.status.value, "spend": asdict(spend)} for p, spend in rows
        ]
        typer.echo(json.dumps(data, indent=2))
        return
    pipeline_rows = plain_table("id", "kind", "status", "spent", "created", "title", "output")
    for pipeline, spend in rows:
        pipeline_rows.add_row(
            pipeline.id,
            pipeline.kind,
            pipeline.status.value,
            amount_text(spend.total, spend.unpriced_jobs),
            _when(pipeline.created_at),
            pipeline.title[:30],
            pipeline.output or pipeline.error_message or "",
        )
    print_table(pipeline_rows)


@app.command()
def show(
    video_id: Annotated[str, typer.Argument(help="A job id (or the provider's id).")],
    as_json: Json = False,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """Show one job with its status history and files."""

    async def load(client: AsyncClient) -> tuple[JobRecord, list[EventRecord]]:
        job = await client.get(video_id)
        return job, await (await client.engine()).ledger.events(job.id)

    job, events = run(load, home=home, verbose=verbose)
    if as_json:
        typer.echo(json.dumps(job_dict(job, events), indent=2))
        return
    console = Console()
    console.print(
        f"{job.id} {job.status.value} ({job.kind}, {job.model} on {job.provider})", markup=False
    )
    console.print(f"prompt: {job.prompt}", markup=False)
    console.print(
        f"{job.total_seconds} s, {job.size}; remote id {job.remote_id or '-'}", markup=False
    )
    console.print(f"cost: {_cost_line(job)}", markup=False)
    if job.error_code:
        console.print(f"error: {job.error_code}: {job.error_message}", markup=False)
    for event in events:
        progress = "" if event.progress is None else f" {event.progress}%"
        console.print(
            f"  {_when(event.at)} {event.status}{progress} {event.detail or ''}", markup=False
        )
    for variant, asset in job.assets.items():
        console.print(
            f"  {variant}: {asset.path} ({asset.size} bytes, sha256 {asset.sha256[:12]}…)",
            markup=False,
        )


@app.command()
def delete(
    video_ids: Annotated[list[str], typer.Argument(help="Job ids (or the provider's ids).")],
    remote_too: Annotated[
        bool, typer.Option("--remote-too", help="Also delete the copy at the provider.")
    ] = False,
    cancel: Annotated[
        bool, typer.Option("--cancel", help="Cancel unfinished jobs first instead of refusing.")
    ] = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """Delete finished jobs: their files and ledger rows (and the provider's copy with --remote-too)."""

    async def go(client: AsyncClient) -> tuple[list[JobRecord], list[tuple[str, SorakitError]]]:
        from sorakit.errors import (
            ConfigurationError,
            InvalidStateError,
            NotFoundError,
            ProviderError,
        )

        found: list[JobRecord] = []
        missing: list[str] = []
        for video_id in dict.fromkeys(video_ids):
            try:
                found.append(await client.get(video_id))
            except NotFoundError:
                missing.append(video_id)
        # Every id is checked before anything is deleted: a typo deletes nothing.
        if missing:
            raise NotFoundError(f"no job with id {', '.join(missing)}; nothing was deleted")
        running = [job for job in found if not job.status.finished]
        if running and not cancel:
            listed = ", ".join(f"{job.id} is {job.status.value}" for job in running)
            raise InvalidStateError(
                f"{listed}; cancel it first or pass --cancel; nothing was deleted"
            )
        for job in running:
            await client.cancel(job.id)
        deleted: list[JobRecord] = []
        kept: list[tuple[str, SorakitError]] = []
        for job in found:
            try:  # --remote-too asks for the provider's copy: a failure keeps both copies
                deleted.append(await client.delete(job.id, remote=remote_too, remote_required=True))
            except (ProviderError, ConfigurationError, InvalidStateError) as exc:
                kept.append((job.id, exc))
        return deleted, kept

    deleted, kept = run(go, base_url=base_url, api_key=api_key, home=home, verbose=verbose)
    where = "here and at the provider" if remote_too else "here (the provider's copy is kept)"
    for job in deleted:
        stderr.print(f"deleted {job.id} {where}", markup=False)
    for job_id, exc in kept:
        reason = one_line(exc).removeprefix("sorakit: ")
        stderr.print(
            f"sorakit: {job_id}: the provider's copy was NOT deleted ({reason}); nothing of it "
            "was deleted here either, so the delete can be tried again (without --remote-too "
            "it deletes only the local copy)",
            markup=False,
        )
    if kept:
        raise typer.Exit(exit_code(kept[0][1]))


@app.command()
def resume(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """Finish every unfinished job; nothing already created is created again."""

    async def go(client: AsyncClient) -> tuple[list[JobRecord], list[Resumed]]:
        with job_progress(not quiet) as progress:
            # Pipelines first: a batch's pending rows must go through its rate limiter.
            pipelines = await client.resume_pipelines(progress)
            return await client.resume(progress), pipelines

    from sorakit.ledger import JobStatus

    finished, pipelines = run(go, base_url=base_url, api_key=api_key, home=home, verbose=verbose)
    if not finished and not pipelines:
        stderr.print("nothing to resume", markup=False)
        return
    stopped = [p for p in pipelines if p.output is None]
    for resumed in pipelines:
        if resumed.output is not None:
            typer.echo(resumed.output)
        else:
            stderr.print(f"{resumed.pipeline.id}: stopped: {resumed.error}", markup=False)
    failed = [j for j in finished if j.status is not JobStatus.COMPLETED]
    for job in finished:
        if job.status is JobStatus.COMPLETED:
            typer.echo(job.video_path)
        else:
            stderr.print(
                f"{job.id}: {job.status.value} {job.error_code or ''} {job.error_message or ''}",
                markup=False,
            )
    if failed or stopped:
        raise typer.Exit(4)
