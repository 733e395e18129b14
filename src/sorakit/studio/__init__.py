"""The studio: web pages on `sorakit serve` for people who would rather click than type.

Server-rendered pages (Jinja2) with htmx for partial updates and server-sent events for live
progress. It is one more client of the engine: it plans, prices and limits nothing itself, and
signs people in through the gateway's own `Gatekeeper`. The server keeps no per-browser state
(the session is a signed cookie), so any number of `serve` processes can share the work. Each
page is one module with its own router; `router` gathers them for `server/app.py` to include.
"""

from __future__ import annotations

from fastapi import APIRouter

from sorakit.studio import (
    batch,
    budget,
    create,
    jobs,
    library,
    long_video,
    manage,
    multiple,
    remix_chain,
    runs,
    signin,
    static,
)

router = APIRouter(include_in_schema=False)
_PAGES = (
    create,
    jobs,
    multiple,
    remix_chain,
    long_video,
    batch,
    runs,
    library,
    budget,
    manage,
    signin,
    static,
)
for _page in _PAGES:
    router.include_router(_page.router)

__all__ = ["router"]
