"""The Admin page (admin keys only): keys, usage, the request log, pools, aliases and prices.

It lives at `/manage` (`/admin` is the HTTP admin API) and is one tab per module: each calls
what the admin API and the CLI call (the ledger, `PoolAdmin`, `sorakit.catalog.sync`), so the
page can do nothing they cannot. A tenant's key gets a 403 that shows no data.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from sorakit.studio import manage_keys, manage_log, manage_models, manage_pools, manage_usage
from sorakit.studio.manage_common import refusal
from sorakit.studio.render import StudioDep

router = APIRouter()
for _section in (manage_keys, manage_usage, manage_log, manage_pools, manage_models):
    router.include_router(_section.router)


@router.get("/manage")
async def manage_page(studio: StudioDep) -> Response:
    """The Admin page opens on its keys."""
    if (refused_now := refusal(studio)) is not None:
        return refused_now
    return RedirectResponse("/manage/keys", status_code=303)
