"""Liveness."""

from __future__ import annotations

from fastapi import APIRouter

from sorakit.server.errors import ERROR_RESPONSES

router = APIRouter(tags=["health"], responses=ERROR_RESPONSES)


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """Answer ok while the server runs."""
    return {"status": "ok"}
