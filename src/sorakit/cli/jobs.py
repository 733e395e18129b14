"""`sorakit jobs`: the ledger, as a table or JSON; `show` one job; `resume` the unfinished."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from sorakit.cli.common import ApiKey, BaseUrl, Home, Verbose, run
from sorakit.cli.output import job_progress, stderr

if TYPE_CHECKING:
    from sorakit.client import AsyncClient
    from sorakit.ledger import EventRecord, JobRecord, PipelineRecord, Spend
    from sorakit.pipelines.resume import Resumed

app = typer.Typer(name="jobs", help="The ledger of every job.", invoke_without_command=True)
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def job_dict(job: JobRecord, events: list[EventRecord] | None = None) -> dict[str, Any]:
    """A job as plain JSON-able data."""
    data = asdict(job)
    data["status"] = job.status.value
    data["assets"] = {k: asdict(v) for k, v in job.assets.items()}
    if events is not None:
        data["events"] = [asdict(e) for e in events]
    return data


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
    table = Table("id", "status", "model", "seconds", "size", "cost", "created", "prompt")
    for job in found:
        cost = job.cost if job.cost is not None else job.estimated_cost
        table.add_row(
            job.id,
            job.status.value,
            job.model,
            job.total_seconds,
            job.size,
            "" if cost is None else f"${cost:.2f}",
            _when(job.created_at),
            job.prompt[:40],
        )
    Console().print(table)


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

    rows = run(listing, home=home, verbose=verbose)
    if as_json:
        data = [
            {**asdict(p), "status": p.status.value, "spend": asdict(spend)} for p, spend in rows
        ]
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table("id", "kind", "status", "spent", "created", "title", "output")
    for pipeline, spend in rows:
        table.add_row(
            pipeline.id,
            pipeline.kind,
            pipeline.status.value,
            f"${spend.total:.2f}",
            _when(pipeline.created_at),
            pipeline.title[:30],
            pipeline.output or pipeline.error_message or "",
        )
    Console().print(table)


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
        f"[bold]{job.id}[/] {job.status.value} ({job.kind}, {job.model} on {job.provider})"
    )
    console.print(f"prompt: {job.prompt}", markup=False)
    console.print(f"{job.total_seconds} s, {job.size}; remote id {job.remote_id or '-'}")
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
