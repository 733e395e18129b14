"""The Remix chain page: a base clip and remix prompts applied in order."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
