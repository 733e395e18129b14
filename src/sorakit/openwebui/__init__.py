"""The Open WebUI pipe, shipped as data: `sorakit_pipe.py` is pasted into Open WebUI as is."""

from __future__ import annotations

from importlib.resources import files

PIPE_FILE = "sorakit_pipe.py"


def pipe_source() -> str:
    """The pipe's source, as `GET /openwebui/sorakit_pipe.py` serves it."""
    return files(__package__).joinpath(PIPE_FILE).read_text(encoding="utf-8")
