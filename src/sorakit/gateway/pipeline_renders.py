"""Pipelines the server runs: any kind, in a task of this process, however its caller goes away.

A surface records a pipeline (`LongVideos.start`, `Storyboards.start`, …) and hands its id to
`PipelineRenders.start`, which runs it through its kind's runner (`pipelines.resume.runner_for`):
the same `resume` that continues a stopped pipeline starts a fresh one, reusing every finished
step, so starting a failed pipeline again is its resume and never pays twice. One task per
pipeline, however often it is asked; a failure is kept for the page or answer that shows it.
"""

from __future__ import annotations

import asyncio
import logging

from sorakit.engine import Engine
from sorakit.errors import SorakitError
from sorakit.ledger import PipelineStatus
from sorakit.pipelines.resume import runner_for

logger = logging.getLogger(__name__)

KEEP_ERRORS = 256
"""How many finished pipelines' errors a process remembers for the pages still showing them."""


class PipelineRenders:
    """The pipelines this process runs, one task each; a failure is kept for its page."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._errors: dict[str, SorakitError] = {}

    def start(self, pipeline_id: str) -> None:
        """Run a recorded pipeline in the background (once, however often it is asked)."""
        task = self._tasks.get(pipeline_id)
        if task is None or task.done():
            self._errors.pop(pipeline_id, None)  # a new run: the last one's error is past
            self._tasks[pipeline_id] = asyncio.create_task(
                self._run(pipeline_id), name=f"pipeline-{pipeline_id}"
            )

    def running(self, pipeline_id: str) -> bool:
        """Whether this process is running the pipeline now."""
        task = self._tasks.get(pipeline_id)
        return task is not None and not task.done()

    async def _run(self, pipeline_id: str) -> None:
        try:
            pipeline = await self.engine.ledger.get_pipeline(pipeline_id)
            result = await runner_for(pipeline.kind, self.engine).resume(pipeline_id)
            if result.error:  # some steps failed, the rest kept (variations, batches)
                logger.info("pipeline %s ended with failures: %s", pipeline_id, result.error)
        except SorakitError as exc:
            logger.warning("pipeline %s failed: %s", pipeline_id, exc)
            self._keep(pipeline_id, exc)
            await self._mark_failed(pipeline_id, str(exc))
        except Exception as exc:
            logger.exception("pipeline %s: unexpected error", pipeline_id)
            self._keep(pipeline_id, SorakitError(f"pipeline {pipeline_id} failed: {exc}"))
            await self._mark_failed(pipeline_id, str(exc))
        finally:
            self._tasks.pop(pipeline_id, None)

    async def _mark_failed(self, pipeline_id: str, message: str) -> None:
        """A runner marks most failures itself; one it did not (a refused step) is marked here."""
        try:
            pipeline = await self.engine.ledger.get_pipeline(pipeline_id)
            if pipeline.status is PipelineStatus.RUNNING:
                await self.engine.ledger.update_pipeline(
                    pipeline_id, status=PipelineStatus.FAILED, error_message=message
                )
        except SorakitError:  # gone meanwhile: nothing to mark
            logger.info("pipeline %s: could not be marked failed", pipeline_id)

    def _keep(self, pipeline_id: str, exc: SorakitError) -> None:
        while len(self._errors) >= KEEP_ERRORS:
            self._errors.pop(next(iter(self._errors)))
        self._errors[pipeline_id] = exc

    def error(self, pipeline_id: str) -> SorakitError | None:
        """Why this process's last run of the pipeline failed, if it did."""
        return self._errors.get(pipeline_id)

    async def stop(self) -> None:
        """Cancel the runs; their finished steps stay in the ledger, and a resume goes on."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def drain(self) -> None:
        """Wait for every run, those started meanwhile too (tests use it)."""
        while tasks := [task for task in self._tasks.values() if not task.done()]:
            await asyncio.gather(*tasks, return_exceptions=True)
