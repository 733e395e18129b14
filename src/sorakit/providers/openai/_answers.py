"""Answers of `/v1/videos` servers that bend the contract, read as the contract says.

The servers that serve open models over the Videos API (vLLM-Omni, SGLang diffusion, FastVideo)
answer close to OpenAI's shapes but not exactly:

- a status outside the contract (`cancelled`, `expired`) reads as `failed`, with that status as
  the error's code;
- a failed job's `error` may lack a `code` (SGLang sends `{"message": ...}`), carry a number
  (vLLM-Omni's `VideoError.code` is `int | str`) or be a bare string: it gets a string code;
- a failed job may come back with an HTTP error status and the job as its body (or as FastAPI's
  `detail`): `failed_job_body` finds it, so the job reads as failed with the server's message
  instead of as an outage to retry. An error answer whose body is not a failed job is left alone;
- `DELETE` may answer the job itself with `status: "deleted"` (SGLang) instead of a
  `video.deleted` object.
"""

from __future__ import annotations

from typing import Any

import httpx

_STATUS_ALIASES = {"cancelled": "failed", "canceled": "failed", "expired": "failed"}
"""Statuses outside the contract that some servers send; read as failed, with the status as code."""
FAILED_CODE = "generation_failed"
"""The code given to a failed job whose server sent none."""


def normalize_video(data: Any) -> Any:
    """A video object with its status and error brought into the contract's shape."""
    if not isinstance(data, dict):
        return data
    status = data.get("status")
    if status in _STATUS_ALIASES:
        data = {**data, "status": _STATUS_ALIASES[status]}
        if not data.get("error"):
            data["error"] = {"code": status, "message": f"the server reports the job {status}"}
    if data.get("status") == "failed" or data.get("error") is not None:
        error = _error(data.get("error"))
        if error is None and data.get("status") == "failed":
            error = {"code": FAILED_CODE, "message": "the server reports the job failed"}
        data = {**data, "error": error}
    return data


def normalize_list(data: Any) -> Any:
    """A list page with each of its videos normalized."""
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        return {**data, "data": [normalize_video(item) for item in data["data"]]}
    return data


def normalize_deleted(data: Any) -> Any:
    """A `video.deleted` object, also from a server that answers the deleted job itself."""
    if isinstance(data, dict) and data.get("object") == "video" and data.get("id"):
        return {"id": data["id"], "object": "video.deleted", "deleted": True}
    return data


def failed_job_body(response: httpx.Response) -> dict[str, Any] | None:
    """The failed job an error answer carries as its body (or FastAPI `detail`), else None."""
    try:
        body = response.json()
    except (ValueError, httpx.StreamError):
        return None
    for candidate in (body, body.get("detail") if isinstance(body, dict) else None):
        if (
            isinstance(candidate, dict)
            and isinstance(candidate.get("id"), str)
            and candidate.get("object", "video") == "video"
            and candidate.get("status") in ("failed", *_STATUS_ALIASES)
        ):
            job = normalize_video(candidate)
            if isinstance(job, dict):
                return job
    return None


def _error(error: Any) -> dict[str, str] | None:
    """`{code, message}` with both as strings, from whatever a server put in `error`."""
    if isinstance(error, str) and error:
        return {"code": FAILED_CODE, "message": error}
    if not isinstance(error, dict):
        return None
    code, message = error.get("code"), error.get("message")
    code_text = str(code) if isinstance(code, str | int) and str(code) else FAILED_CODE
    if not isinstance(message, str) or not message:
        message = f"the server reports the job failed ({code_text})"
    return {**error, "code": code_text, "message": message}
