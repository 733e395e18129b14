"""The Open WebUI pipe at a stable URL, for an admin to import from a link or paste."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from sorakit.openwebui import PIPE_FILE, pipe_source

router = APIRouter(tags=["openwebui"])


@router.get(
    f"/openwebui/{PIPE_FILE}", summary="The Open WebUI pipe", response_class=PlainTextResponse
)
async def openwebui_pipe() -> PlainTextResponse:
    """The pipe's Python source (Open WebUI: Workspace → Functions → Import from link)."""
    return PlainTextResponse(pipe_source(), media_type="text/x-python; charset=utf-8")
