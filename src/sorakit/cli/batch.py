"""`sorakit batch FILE`: every row of a JSONL or CSV file, rate-limited and budgeted.

The report's path is the last stdout line and a one-line summary goes to stderr; the exit code
is 0 when every row completed and 4 when some failed or were skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sorakit.cli.common import ApiKey, BaseUrl, Home, Verbose, run
from sorakit.cli.output import job_progress, stderr

if TYPE_CHECKING:
    from sorakit.client import AsyncClient
    from sorakit.pipelines.batch import BatchResult

SOME_ROWS_FAILED = 4
"""The exit code when a row failed or was skipped (as a failed job's)."""


def batch(
    file: Annotated[
        Path, typer.Argument(help="JSONL or CSV: prompt, model, seconds, size, reference, n.")
    ],
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, help="Jobs in flight at once.")
    ] = 8,
    rpm: Annotated[
        float | None,
        typer.Option("--rpm", min=0.001, help="Creates per minute per credential (else settings)."),
    ] = None,
    budget: Annotated[
        float | None, typer.Option("--budget", min=0.0, help="The most this run may cost, in USD.")
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Also write the report here (.csv or .json).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder to write the batch's folder into.")
    ] = None,
    new: Annotated[
        bool, typer.Option("--new", help="A new batch, even if this file ran before.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    home: Home = None,
    verbose: Verbose = 0,
) -> None:
    """Render every row of FILE; running it again resumes the same batch without paying twice."""
    from sorakit.pipelines.batch import Batches, BatchRequest

    request = BatchRequest(
        file=str(file),
        concurrency=concurrency,
        rpm=rpm,
        budget_usd=budget,
        out=str(out) if out else None,
        report=str(report) if report else None,
        new=new,
    )

    async def make(client: AsyncClient) -> BatchResult:
        with job_progress(not quiet) as progress:
            return await Batches(await client.engine()).generate(request, progress)

    result = run(make, base_url=base_url, api_key=api_key, home=home, verbose=verbose)
    for row in result.rows:
        if row.status != "completed":
            stderr.print(
                f"{row.step} (line {row.line}): {row.status}: {row.error}",
                markup=False,
                soft_wrap=True,
            )
    stderr.print(result.summary(), markup=False, soft_wrap=True)
    typer.echo(str(result.report))
    if not result.ok:
        raise typer.Exit(SOME_ROWS_FAILED)


def register(app: typer.Typer) -> None:
    """Add `sorakit batch` to the main app."""
    app.command()(batch)
