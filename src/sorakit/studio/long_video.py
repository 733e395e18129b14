"""The Long video page: a prompt and a length, or a storyboard, planned before rendering."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
