"""Resuming pipelines: every running or failed pipeline continues from its last finished step."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sorakit.engine import Engine
from sorakit.engine.runner import ProgressCallback
from sorakit.errors import SorakitError
from sorakit.ledger import PipelineRecord

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resumed:
    """A pipeline after a resume, and the output it produced (or why it stopped)."""

    pipeline: PipelineRecord
    output: str | None
    error: str | None = None


async def resume_pipelines(
    engine: Engine, on_progress: ProgressCallback | None = None
) -> list[Resumed]:
    """Run every unfinished pipeline again; finished steps are reused, never paid for twice."""
    from sorakit.pipelines.long import KIND as LONG, LongVideos

    results = []
    for pipeline in reversed(await engine.ledger.list_pipelines(unfinished=True)):
        if pipeline.kind != LONG:
            logger.warning("pipeline %s: no runner for kind %r", pipeline.id, pipeline.kind)
            continue
        try:
            video = await LongVideos(engine).run(pipeline.id, on_progress)
            results.append(Resumed(video.pipeline, str(video.video) if video.video else None))
        except SorakitError as exc:  # one pipeline's trouble never stops the others
            logger.warning("pipeline %s stopped: %s", pipeline.id, exc)
            results.append(Resumed(await engine.ledger.get_pipeline(pipeline.id), None, str(exc)))
    return results
