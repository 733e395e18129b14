"""The Batch page: a JSONL or CSV file of rows, checked before anything is sent."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
