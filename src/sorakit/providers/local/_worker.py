"""The device worker: one thread that owns the device and renders one job at a time, in order.

Jobs wait in a FIFO queue. While one renders, the pipeline's step callback records each
denoising step (so progress and the ETA are measured, not guessed) and is where a cancel takes
effect: it raises between two steps. Frames are encoded by the media layer on the same thread,
so the device is free again only once the MP4 is on disk.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from sorakit.errors import ConfigurationError
from sorakit.media.from_frames import encode_frames
from sorakit.providers.local._render import Cancelled, RenderPlan, StepCallback

logger = logging.getLogger(__name__)

RenderStatus = Literal["queued", "in_progress", "completed", "failed"]
DENOISE_SHARE = 95
"""Percent of the progress bar the denoising steps fill; decoding and encoding take the rest."""


class Renderer(Protocol):
    """What renders a plan (`PipelineHost`; a test may hand in another)."""

    def render(self, plan: RenderPlan, on_step: StepCallback) -> NDArray[np.uint8]: ...


@dataclass
class Render:
    """One job's live state, written by the worker thread and read by the event loop."""

    id: str
    plan: RenderPlan
    output: Path
    created_at: float = field(default_factory=time.time)
    status: RenderStatus = "queued"
    step: int = 0
    steps: int = 0
    started_at: float | None = None
    step_at: float | None = None
    finished_at: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def progress(self) -> int:
        """Percent done: the denoising steps measured, then 97 while it decodes and encodes."""
        if self.status == "completed":
            return 100
        if self.status == "queued" or not self.steps:
            return 0
        if self.step >= self.steps:
            return DENOISE_SHARE + 2
        return DENOISE_SHARE * self.step // self.steps

    def seconds_per_step(self) -> float | None:
        if self.started_at is None or self.step_at is None or not self.step:
            return None
        return (self.step_at - self.started_at) / self.step

    def expected_seconds(self, now: float) -> float | None:
        """The whole job's expected duration, from the steps measured so far (None before)."""
        per_step = self.seconds_per_step()
        if per_step is None:
            return None
        # Decoding and encoding cost about one step's time at these sizes.
        remaining = max(self.steps - self.step, 0) * per_step + per_step
        return (now - self.created_at) + remaining


class DeviceWorker:
    """A daemon thread rendering queued jobs one at a time on its renderer's device."""

    def __init__(
        self,
        renderer_factory: Callable[[], Renderer],
        *,
        on_finished: Callable[[Render], None] | None = None,
        name: str = "sorakit-local-device",
    ) -> None:
        self._factory = renderer_factory
        self._renderer: Renderer | None = None
        self._queue: queue.Queue[Render | None] = queue.Queue()
        self._on_finished = on_finished
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False
        self._lock = threading.Lock()
        self.step_seconds: dict[str, float] = {}
        """The last measured seconds per step, by model name (for the next job's estimate)."""

    def enqueue(self, render: Render) -> None:
        """Queue a render; the thread starts with the first one."""
        with self._lock:
            if not self._started:
                self._thread.start()
                self._started = True
        self._queue.put(render)

    def waiting(self) -> int:
        """Jobs queued behind the one rendering."""
        return self._queue.qsize()

    def close(self, timeout: float = 30.0) -> None:
        """Let the current render stop at its next step and end the thread."""
        self._queue.put(None)
        if self._started:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            render = self._queue.get()
            if render is None:
                return
            try:
                self._render(render)
            finally:
                render.finished_at = time.time()
                if self._on_finished is not None:
                    try:  # recorded before `done`, so a reader that sees `done` finds the record
                        self._on_finished(render)
                    except Exception:  # the record on disk is a convenience; the thread lives on
                        logger.exception("could not record the end of %s", render.id)
                render.done.set()

    def _render(self, render: Render) -> None:
        if render.cancel.is_set():
            _fail(render, "cancelled", "the job was cancelled before it started")
            return
        render.status = "in_progress"
        render.steps = render.plan.steps
        render.started_at = time.time()

        def on_step(done: int, total: int) -> None:
            render.step, render.steps, render.step_at = done, total, time.time()
            if render.cancel.is_set():
                raise Cancelled

        try:
            if self._renderer is None:
                self._renderer = self._factory()
            frames = self._renderer.render(render.plan, on_step)
            per_step = render.seconds_per_step()
            if per_step is not None:
                self.step_seconds[render.plan.model.name] = per_step
            encode_frames(frames, render.plan.model.fps, render.output)
        except Cancelled:
            _fail(render, "cancelled", f"cancelled after {render.step} of {render.steps} steps")
        except ConfigurationError as exc:
            _fail(render, "model_unavailable", exc.message)
        except Exception as exc:  # a model's failure is the job's, never the worker's
            logger.exception("local render %s failed", render.id)
            _fail(render, "render_failed", f"{type(exc).__name__}: {exc}")
        else:
            render.status = "completed"


def _fail(render: Render, code: str, message: str) -> None:
    render.status, render.error_code, render.error_message = "failed", code, message
