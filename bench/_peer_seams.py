"""Seams with a duplicated frame in a stitched video, found by decoding it (for the peer bench)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _luma(path: Path) -> Iterator[Any]:
    import av
    import numpy as np

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="gray").astype(np.int16)


def _frame_count(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for packet in container.demux(video=0) if packet.size)


@dataclass
class Seams:
    frames: int
    duration: float
    seams: int
    duplicated: int
    at_seams: list[int]
    """Changed pixels of the stillest step within 3 frames of each seam."""
    threshold: float
    repeats_elsewhere: int


def seams(video: Path, segments: list[Path]) -> Seams:
    """Duplicated seams: a repeated frame (next to no pixel changes) within 3 frames of a seam.

    A step's size is how many pixels change by more than 24 levels of luma between two
    consecutive frames: the simulator's disc and frame counter move in every frame, so a normal
    step changes 100+ pixels even at its stillest, a repeat (re-encoded) a handful.
    """
    import av
    import numpy as np

    steps: list[int] = []
    previous = None
    for frame in _luma(video):
        if previous is not None:
            steps.append(int((np.abs(frame - previous) > 24).sum()))
        previous = frame
    threshold = 0.25 * float(np.percentile(steps, 5))
    lengths = [_frame_count(s) for s in segments]
    near: set[int] = set()
    at_seams = []
    total = 0
    for k, length in enumerate(lengths[:-1], start=1):
        total += length
        # The boundary step is (total-1, total) as concatenated, (total-k-1, total-k) once a
        # repeated first frame per seam is dropped.
        window = range(max(0, total - k - 3), min(len(steps), total + 3))
        near.update(window)
        at_seams.append(min(steps[i] for i in window))
    duplicated = sum(1 for s in at_seams if s < threshold)
    elsewhere = sum(1 for i, s in enumerate(steps) if s < threshold and i not in near)
    with av.open(str(video)) as container:
        duration = float(container.duration or 0) / 1_000_000
    return Seams(
        len(steps) + 1, duration, len(at_seams), duplicated, at_seams, threshold, elsewhere
    )
