"""The budget meter on every page, and budgets scoped to a project."""

from __future__ import annotations

from fastapi import APIRouter, Response

router = APIRouter()


@router.get("/budget/meter")
async def budget_meter() -> Response:
    """Nothing yet: htmx swaps nothing for a 204."""
    return Response(status_code=204)
