"""Fixtures for the media tests: `make_clip` writes small PyAV clips into the test's tmp folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from .media_clips import MakeClip, write_clip


@pytest.fixture
def make_clip(tmp_path: Path) -> MakeClip:
    """A factory: `make_clip("a.mp4", size=..., fps=..., seconds=..., audio=..., gop=...)`."""

    def factory(name: str = "clip.mp4", **kwargs: object) -> Path:
        return write_clip(tmp_path / name, **kwargs)  # type: ignore[arg-type]

    return factory
