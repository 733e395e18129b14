"""Terminal output: Rich progress on stderr; stdout is kept for results (the path goes last)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

if TYPE_CHECKING:
    from sorakit.ledger import JobRecord


stderr = Console(stderr=True)


class JobProgress:
    """One progress bar per job, fed by the engine's progress callback."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}
        self._started: dict[str, float] = {}

    def __call__(self, job: JobRecord) -> None:
        task = self._tasks.get(job.id)
        label = f"{job.id[:14]}… {job.status.value}"
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
