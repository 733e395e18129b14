"""The Admin page (admin keys only): keys, usage, the request log, pools, aliases and prices."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
