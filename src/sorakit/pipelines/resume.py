"""Resuming pipelines: every running or failed pipeline continues from its last finished step.

Each pipeline kind names its runner here: a class built with the engine whose `resume` runs the
pipeline again (finished steps are reused, never paid for twice) and returns a `Resumed`.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from typing import Protocol

from sorakit.engine import Engine
from sorakit.engine.runner import ProgressCallback
from sorakit.errors import SorakitError
from sorakit.ledger import PipelineRecord

logger = logging.getLogger(__name__)

RUNNERS = {
    "long": "sorakit.pipelines.long:LongVideos",
    "storyboard": "sorakit.pipelines.shots:Storyboards",
    "remix_chain": "sorakit.pipelines.remixes:RemixChains",
    "variations": "sorakit.pipelines.variations:Variations",
    "batch": "sorakit.pipelines.batch:Batches",
}
"""Pipeline kind -> `module:Class` of its runner (imported only when such a pipeline exists)."""


@dataclass(frozen=True)
class Resumed:
    """A pipeline after a resume, and the output it produced (or why it stopped)."""

    pipeline: PipelineRecord
    output: str | None
    error: str | None = None


class PipelineRunner(Protocol):
    """What a pipeline kind's runner offers to `resume_pipelines`."""

    def __init__(self, engine: Engine) -> None: ...

    async def resume(
        self, pipeline_id: str, on_progress: ProgressCallback | None = None
    ) -> Resumed: ...


def runner_for(kind: str, engine: Engine) -> PipelineRunner:
    """The runner of a pipeline kind."""
    module, _, name = RUNNERS[kind].partition(":")
    runner: type[PipelineRunner] = getattr(importlib.import_module(module), name)
    return runner(engine)


async def resume_pipelines(
    engine: Engine, on_progress: ProgressCallback | None = None
) -> list[Resumed]:
    """Run every unfinished pipeline again, oldest first; one failure never stops the others."""
    results = []
    for pipeline in reversed(await engine.ledger.list_pipelines(unfinished=True)):
        if pipeline.kind not in RUNNERS:
            logger.warning("pipeline %s: no runner for kind %r", pipeline.id, pipeline.kind)
            continue
        try:
            results.append(await runner_for(pipeline.kind, engine).resume(pipeline.id, on_progress))
        except SorakitError as exc:  # told once, by the caller, from the `Resumed` it returns
            logger.info("pipeline %s stopped: %s", pipeline.id, exc)
            results.append(Resumed(await engine.ledger.get_pipeline(pipeline.id), None, str(exc)))
    return results
