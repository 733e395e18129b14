"""Terminal output: Rich progress on stderr; stdout is kept for results (the path goes last).

User text (prompts, names, labels, errors) may hold square brackets; Rich would read them as
markup (`a [[moderation_blocked]] thing` shown as `a [] thing`). Tables are made with
`plain_table()`, whose string cells are plain text, and lines are printed with `markup=False`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.style import StyleType
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from sorakit.ledger import JobRecord


stderr = Console(stderr=True, soft_wrap=True)
"""Messages on stderr; soft wrap keeps each message one line, whatever the terminal width."""


class _PlainTable(Table):
    """A Rich table whose string cells are shown as typed, never read as markup."""

    def add_row(
        self,
        *renderables: RenderableType | None,
        style: StyleType | None = None,
        end_section: bool = False,
    ) -> None:
        cells = [Text(cell) if isinstance(cell, str) else cell for cell in renderables]
        super().add_row(*cells, style=style, end_section=end_section)


def plain_table(*columns: str) -> Table:
    """A table for user data: its string cells are plain text, whatever brackets they hold."""
    return _PlainTable(*columns)


def jobs_cost(jobs: Iterable[JobRecord]) -> str:
    """What jobs cost together, naming those whose price is unknown rather than adding $0."""
    from sorakit.ledger.records import amount_text

    done = list(jobs)
    charged = sum(job.cost for job in done if job.cost is not None)
    return amount_text(charged, sum(job.cost_unknown for job in done))


def print_table(rows: Table) -> None:
    """Print a table on stdout."""
    Console().print(rows)


class JobProgress:
    """One progress bar per job, fed by the engine's progress callback."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}
        self._started: dict[str, float] = {}

    def __call__(self, job: JobRecord) -> None:
        task = self._tasks.get(job.id)
        label = escape(f"{job.id[:14]}… {job.status.value}")  # the column reads markup
        if task is None:
            task = self._tasks[job.id] = self._progress.add_task(label, total=100)
            self._started[job.id] = time.monotonic()
        self._progress.update(task, completed=job.progress, description=label)


@contextmanager
def job_progress(enabled: bool = True) -> Iterator[JobProgress | None]:
    """A progress display with ETA on stderr (off when stderr is not a terminal and not forced)."""
    if not enabled:
        yield None
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=stderr,
        transient=False,
    )
    with progress:
        yield JobProgress(progress)
