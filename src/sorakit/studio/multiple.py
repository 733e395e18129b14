"""The Multiple page: several prompts in rows, or several takes of one prompt."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
