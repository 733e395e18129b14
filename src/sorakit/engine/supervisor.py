"""Background tracking of jobs: one task per unfinished job (`sorakit serve` restarts them at
start-up; an MCP session tracks the jobs it creates).

Plain asyncio tasks: a cancelled one still releases its job's lease on the way out (an anyio
cancel scope would cancel that too, and the next process would wait for the lease to run out).
Its job stays in the ledger, where `sorakit jobs resume` or `sorakit serve` finishes it.
"""

from __future__ import annotations

import asyncio
import logging

from sorakit.engine import Engine
from sorakit.errors import JobTimeoutError, SorakitError, TransientProviderError

logger = logging.getLogger(__name__)


class JobSupervisor:
    """Keeps one tracking task per unfinished job until it completes or fails."""

    def __init__(self, engine: Engine, *, retry_delay: float = 5.0) -> None:
        self.engine = engine
        self.retry_delay = retry_delay
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def watch(self, job_id: str) -> None:
        """Track a job in the background (once, however often it is asked)."""
        task = self._tasks.get(job_id)
        if task is None or task.done():
            self._tasks[job_id] = asyncio.create_task(self._run(job_id), name=f"track-{job_id}")

    async def _run(self, job_id: str) -> None:
        while True:
            try:
                await self.engine.wait(job_id)
                return
            except TransientProviderError as exc:
                logger.warning("job %s: provider unavailable (%s); retrying", job_id, exc)
            except JobTimeoutError as exc:
                logger.error("%s", exc)
                return
            except SorakitError as exc:
                logger.error("job %s stopped: %s", job_id, exc)
                return
            except Exception:
                logger.exception("job %s: unexpected error while tracking", job_id)
            await asyncio.sleep(self.retry_delay)

    async def start(self) -> int:
        """Resume every unfinished job in the ledger; returns how many."""
        jobs = await self.engine.ledger.unfinished()
        for job in jobs:
            self.watch(job.id)
        return len(jobs)

    async def stop(self) -> None:
        """Cancel the tracking tasks; their jobs stay resumable in the ledger."""
        tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def drain(self) -> None:
        """Wait for every tracking task (tests use it)."""
        await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)
