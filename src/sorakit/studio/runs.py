"""A pipeline's page: its steps filling in as they render, then its result."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
