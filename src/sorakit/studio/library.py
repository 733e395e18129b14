"""The Library page: the ledger as a gallery."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
