"""The studio's static files, shipped in the package (nothing comes from a CDN).

`htmx.min.js` is htmx 2.0.11 and `htmx-ext-sse.min.js` its SSE extension 2.2.4, both as the
npm registry packs them (`npm pack htmx.org@2 htmx-ext-sse@2`), each beside its LICENSE.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

router = APIRouter()

STATIC_DIR = Path(str(files("sorakit.studio") / "static"))
_MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


@router.get("/static/{name}")
async def static_file(name: str) -> Response:
    """One file of `static/`, by its plain name (no paths: nothing else on disk is reachable)."""
    path = STATIC_DIR / name
    if "/" in name or name.startswith(".") or not path.is_file():
        return Response("Not found.", status_code=404, media_type="text/plain")
    media_type = _MEDIA_TYPES.get(path.suffix, "text/plain")
    return FileResponse(path, media_type=media_type, headers={"cache-control": "max-age=3600"})
