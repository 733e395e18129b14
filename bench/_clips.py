"""Bench helpers: 720p test clips made with PyAV (cached under bench/results/), and a timer."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "media"))
RESULTS = HERE / "results"

from media_clips import write_clip  # noqa: E402


def clip(name: str, **kwargs: object) -> Path:
    """A cached clip in bench/results (made once: 1280x720, 24 fps unless told otherwise)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    if not path.exists():
        write_clip(path, **{"size": (1280, 720), **kwargs})  # type: ignore[arg-type]
    return path


def timed(fn: Callable[[], object], runs: int = 3, *, warmup: bool = True) -> float:
    """Median wall seconds of `runs` calls after one warm-up (none for long calls)."""
    if warmup:
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)
