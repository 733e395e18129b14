"""What an agent receives: compact JSON for a job, and errors as one-line MCP tool errors."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec

from mcp.types import CallToolResult, ContentBlock, TextContent

from sorakit.cli.errors import one_line
from sorakit.errors import SorakitError
from sorakit.ledger import JobRecord

P = ParamSpec("P")

_FILES = ("video", "thumbnail", "spritesheet")
"""The archived outputs whose paths an agent may want (never their bytes)."""
IMAGE_ID_PREFIX = "img_"
"""How an image job's id starts (`engine.images.new_image_id`)."""


def eta_seconds(job: JobRecord, now: float | None = None) -> float | None:
    """Seconds until the render is expected to finish; None when finished or unknown."""
    if job.status.finished or not job.expected_render_seconds:
        return None
    started = job.submitted_at or job.created_at
    left = started + job.expected_render_seconds - (now or time.time())
    return round(max(left, 0.0), 1)


def job_view(job: JobRecord) -> dict[str, Any]:
    """A job as an agent needs it: state, what it is, cost, where its files are; no bytes."""
    view: dict[str, Any] = {
        "id": job.id,
        "status": job.status.value,
        "progress": job.progress,
        "kind": job.kind,
        "model": job.model,
        "prompt": job.prompt,
        "seconds": job.total_seconds,
        "size": job.size,
    }
    if (eta := eta_seconds(job)) is not None:
        view["eta_seconds"] = eta
    if job.source_id:
        view["source_id"] = job.source_id
    if job.cost is not None:
        view["cost_usd"] = job.cost
    elif job.estimated_cost is not None:
        view["estimated_cost_usd"] = job.estimated_cost
    if changes := job.options.get("changes"):
        view["changes"] = changes  # what planning snapped or routed, in words
    if job.error_code or job.error_message:
        view["error"] = {"code": job.error_code, "message": job.error_message}
    files = {name: job.assets[name].path for name in _FILES if name in job.assets}
    if files:
        view["files"] = files
    return view


def image_view(job: JobRecord) -> dict[str, Any]:
    """An image job as an agent needs it: state, model, size, cost, where its file is."""
    view: dict[str, Any] = {
        "id": job.id,
        "status": job.status.value,
        "kind": job.kind,
        "model": job.model,
        "prompt": job.prompt,
        "size": job.size,
        "output_format": job.options.get("output_format", "png"),
    }
    if job.cost is not None:
        view["cost_usd"] = job.cost
    elif job.estimated_cost is not None:
        view["estimated_cost_usd"] = job.estimated_cost
    if job.error_code or job.error_message:
        view["error"] = {"code": job.error_code, "message": job.error_message}
    if "image" in job.assets:
        view["files"] = {"image": job.assets["image"].path}
    return view


def as_json(data: Any) -> str:
    """Compact JSON: an agent pays for every token it reads."""
    return json.dumps(data, separators=(",", ":"), default=str)


def answer(data: Any, *extra: ContentBlock) -> CallToolResult:
    """A tool's result: its JSON as text, then any images."""
    return CallToolResult(content=[TextContent(type="text", text=as_json(data)), *extra])


def tool_error(exc: SorakitError) -> CallToolResult:
    """An MCP tool error carrying the line the CLI prints for the same error."""
    return CallToolResult(content=[TextContent(type="text", text=one_line(exc))], is_error=True)


def refusing(
    tool: Callable[P, Awaitable[CallToolResult]],
) -> Callable[P, Awaitable[CallToolResult]]:
    """Answer a `SorakitError` as an MCP tool error with the CLI's one-line message."""

    @functools.wraps(tool)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> CallToolResult:
        try:
            return await tool(*args, **kwargs)
        except SorakitError as exc:
            return tool_error(exc)

    return guarded
