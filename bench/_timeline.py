"""Where a long video's wall time goes: timed spans from the simulator and the media calls.

`Recorder.install()` wraps (in this process only) the simulator's submit, retrieve, render and
download, `sorakit.media.last_frame`, `sorakit.media.stitch` and the offline keyframe painter
with timers, so a bench can attribute every instant of a run to one cause (`attribute`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

# Highest first: an instant covered by a render and by polling lateness is render time.
PRIORITY = (
    "render",
    "simulator encode",
    "download",
    "polling lateness",
    "last frame",
    "keyframes",
    "stitch",
    "submit",
)


@dataclass
class Recorder:
    """Timed spans of one run, and each remote job's finish and status calls."""

    render_seconds: float
    spans: list[tuple[float, float, str]] = field(default_factory=list)
    created: dict[str, float] = field(default_factory=dict)
    noticed: dict[str, float] = field(default_factory=dict)
    retrieves: dict[str, int] = field(default_factory=dict)

    def reset(self) -> None:
        self.spans.clear()
        self.created.clear()
        self.noticed.clear()
        self.retrieves.clear()

    def add(self, start: float, end: float, what: str) -> None:
        self.spans.append((start, end, what))

    @contextlib.contextmanager
    def span(self, what: str) -> Iterator[None]:
        start = time.time()
        try:
            yield
        finally:
            self.add(start, time.time(), what)

    def finish_spans(self) -> list[tuple[float, float, str]]:
        """Render and lateness spans of every job: created -> finished -> first seen completed."""
        out = []
        for job, created in self.created.items():
            finished = created + self.render_seconds
            out.append((created, finished, "render"))
            if job in self.noticed:
                out.append((finished, max(finished, self.noticed[job]), "polling lateness"))
        return out

    def install(self) -> contextlib.ExitStack:
        """Wrap the timed calls; closing the returned stack puts the originals back."""
        from sorakit import media
        from sorakit.pipelines import keyframes
        from sorakit.providers.simulator.provider import SimulatorProvider

        stack = contextlib.ExitStack()
        rec = self

        def patch(owner: Any, name: str, value: Any) -> None:
            original = getattr(owner, name)
            setattr(owner, name, value)
            stack.callback(setattr, owner, name, original)

        submit0, retrieve0 = SimulatorProvider.submit, SimulatorProvider.retrieve
        render0, download0 = SimulatorProvider._render, SimulatorProvider.download

        async def submit(self: Any, request: Any) -> Any:
            with rec.span("submit"):
                remote = await submit0(self, request)
            rec.created.setdefault(remote.id, float(remote.created_at or time.time()))
            return remote

        async def retrieve(self: Any, remote_id: str) -> Any:
            start = time.time()
            remote = await retrieve0(self, remote_id)
            rec.retrieves[remote_id] = rec.retrieves.get(remote_id, 0) + 1
            if remote.status == "completed":
                rec.noticed.setdefault(remote_id, start)
            return remote

        def render(self: Any, record: Any, files: Any) -> None:
            with rec.span("simulator encode"):
                render0(self, record, files)

        @contextlib.asynccontextmanager
        async def download(self: Any, remote_id: str, variant: Any = "video") -> AsyncIterator[Any]:
            start = time.time()
            try:
                async with download0(self, remote_id, variant) as handle:
                    yield handle
            finally:
                rec.add(start, time.time(), "download")

        def timed(fn: Any, what: str) -> Any:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                with rec.span(what):
                    return fn(*args, **kwargs)

            return wrapper

        patch(SimulatorProvider, "submit", submit)
        patch(SimulatorProvider, "retrieve", retrieve)
        patch(SimulatorProvider, "_render", render)
        patch(SimulatorProvider, "download", download)
        patch(media, "last_frame", timed(media.last_frame, "last frame"))
        patch(media, "stitch", timed(media.stitch, "stitch"))
        patch(keyframes, "offline_keyframe", timed(keyframes.offline_keyframe, "keyframes"))
        return stack


def attribute(spans: list[tuple[float, float, str]], start: float, end: float) -> dict[str, float]:
    """Seconds of [start, end] per cause: each instant goes to the highest-priority span over it."""
    cuts = sorted({start, end, *(t for s, e, _ in spans for t in (s, e) if start < t < end)})
    out = dict.fromkeys((*PRIORITY, "other"), 0.0)
    rank = {what: i for i, what in enumerate(PRIORITY)}
    for a, b in zip(cuts, cuts[1:], strict=False):
        mid = (a + b) / 2
        active = [what for s, e, what in spans if s <= mid < e]
        cause = min(active, key=rank.__getitem__) if active else "other"
        out[cause] += b - a
    return out
