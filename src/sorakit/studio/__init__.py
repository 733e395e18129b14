"""The studio: web pages on `sorakit serve` for people who would rather click than type.

Server-rendered pages (Jinja2) with htmx for partial updates and server-sent events for live
progress. It is one more client of the engine: it plans, prices and limits nothing itself, and
signs people in through the gateway's own `Gatekeeper`. The server keeps no per-browser state
(the session is a signed cookie), so any number of `serve` processes can share the work. Each
page is one module with its own router; `router` gathers them for `server/app.py` to include.
"""

from __future__ import annotations

from fastapi import APIRouter

from sorakit.studio import create, jobs, signin, static

router = APIRouter(include_in_schema=False)
for _page in (create, jobs, signin, static):
    router.include_router(_page.router)

__all__ = ["router"]
