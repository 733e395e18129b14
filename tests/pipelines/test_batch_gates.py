"""Two batches running at once in one engine: each one's creates are paced by its own limiter,
however their runs overlap and whichever finishes first."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from sorakit.engine import Engine
from sorakit.ledger import PipelineStatus
from sorakit.pipelines.batch import Batches, BatchRequest
from sorakit.settings import Settings
from tests.pipelines.test_batch import write_jsonl

pytestmark = pytest.mark.serial  # real creates paced in wall-clock time


async def _submitted(engine: Engine, pipeline_id: str) -> list[float]:
    """When each of the batch's jobs was created at the provider, in order."""
    jobs = await engine.ledger.pipeline_jobs(pipeline_id)
    return sorted(job.submitted_at for job in jobs if job.submitted_at is not None)


def _spaced(times: list[float], spacing: float) -> bool:
    """No k+1 creates closer together than k slots of `spacing` (the bucket's promise)."""
    return all(
        later - earlier >= (j - i) * spacing - 0.05
        for i, earlier in enumerate(times)
        for j, later in enumerate(times[i + 1 :], start=i + 1)
    )


async def test_a_batch_that_finishes_first_leaves_the_others_rate_alone(
    settings: Settings, tmp_path: Path
) -> None:
    quick_file = write_jsonl(tmp_path / "quick.jsonl", [{"prompt": f"quick {i}"} for i in (1, 2)])
    slow_file = write_jsonl(tmp_path / "slow.jsonl", [{"prompt": f"slow {i}"} for i in range(5)])
    slow_spacing = 1.0  # 60 creates a minute; the renders (0.3 s) are much quicker than that
    async with await Engine.open(settings) as engine:
        batches = Batches(engine)
        quick = await batches.start(BatchRequest(str(quick_file), concurrency=2, rpm=600))
        slow = await batches.start(BatchRequest(str(slow_file), concurrency=2, rpm=60))
        async with anyio.create_task_group() as group:
            group.start_soon(batches.run, quick.id)
            with anyio.fail_after(10):
                while engine.runner.submit_gate is None:  # the quick batch is pacing first
                    await anyio.sleep(0.005)
            group.start_soon(batches.run, slow.id)
        quick_done = await engine.ledger.get_pipeline(quick.id)
        slow_done = await engine.ledger.get_pipeline(slow.id)
        quick_times = await _submitted(engine, quick.id)
        slow_times = await _submitted(engine, slow.id)
        gate_after = engine.runner.submit_gate

    assert quick_done.status is slow_done.status is PipelineStatus.COMPLETED
    assert len(quick_times) == 2 and len(slow_times) == 5
    # The quick batch was done while the slow one still had creates to make...
    assert sum(t > quick_done.updated_at for t in slow_times) >= 2
    # ...and every one of them kept the slow batch's own pace (the quick batch's went too).
    assert _spaced(slow_times, slow_spacing), [round(t - slow_times[0], 2) for t in slow_times]
    assert slow_times[-1] - slow_times[0] == pytest.approx(4 * slow_spacing, abs=1.0)
    # The quick batch was paced at its own rate, not held to the slow one's.
    assert quick_times[1] - quick_times[0] < slow_spacing - 0.2
    assert gate_after is None  # the last batch to finish put the runner's gate back
