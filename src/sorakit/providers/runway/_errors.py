"""The one place where a runwayml SDK exception or a download answer becomes a sorakit error.

```
runwayml / httpx failure                 sorakit error
AuthenticationError 401, PermissionDenied 403   ProviderAuthError
BadRequest 400, NotFound 404, 409, 422   ProviderBadRequestError
NotFound 404 looking a task up          NotFoundError (cause: ProviderBadRequestError)
RateLimitError 429                       RateLimitedError(retry_after)
InternalServerError 5xx                  ProviderUnavailableError(retry_after)
408                                      TransientProviderError
APITimeoutError, APIConnectionError,
  httpx timeouts and network errors      ProviderConnectionError
anything else from the SDK               ProviderError
```

Runway answers errors as `{"error": "<text>", "issues": [...]}` (zod-style issues on 400s);
the message keeps the text and the first issues so a user sees which field was refused.
"""

from __future__ import annotations

from typing import Any

import httpx
import runwayml

from sorakit.errors import (
    NotFoundError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    SorakitError,
    TransientProviderError,
)
from sorakit.providers._http import parse_retry_after

PROVIDER = "runway"

SDK_ERRORS = (runwayml.APIError,)
HTTPX_ERRORS = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError)


def translate(exc: Exception, *, lookup: bool = False) -> SorakitError:
    """The sorakit error for an SDK or httpx exception; `lookup`: a 404 means no such task."""
    if isinstance(exc, runwayml.APIStatusError):
        error = from_response(exc.response, body=exc.body)
        if lookup and exc.status_code in (404, 410):
            missing = NotFoundError(f"{error.message} (no such Runway task)", param="video_id")
            missing.__cause__ = error
            return missing
        return error
    if isinstance(exc, runwayml.APIConnectionError | httpx.TimeoutException | httpx.NetworkError):
        kind = (
            "timed out"
            if isinstance(exc, runwayml.APITimeoutError | httpx.TimeoutException)
            else "failed"
        )
        return ProviderConnectionError(
            f"the connection to Runway {kind} ({type(exc).__name__}: {exc})", provider=PROVIDER
        )
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ProxyError):
        return ProviderConnectionError(
            f"Runway's answer broke off ({type(exc).__name__}: {exc})", provider=PROVIDER
        )
    return ProviderError(
        f"talking to Runway failed ({type(exc).__name__}: {exc})", provider=PROVIDER
    )


def from_response(response: httpx.Response, *, body: object = None) -> SorakitError:
    """The sorakit error for an error answer (`body` is the parsed JSON, when already read)."""
    status = response.status_code
    message = _message(status, body if body is not None else _json(response))
    retry_after = parse_retry_after(response.headers)
    details: dict[str, Any] = {"provider": PROVIDER, "status_code": status}
    if status in (401, 403):
        return ProviderAuthError(
            f"{message} (check RUNWAYML_API_SECRET)" if status == 401 else message, **details
        )
    if status == 429:
        return RateLimitedError(message, retry_after=retry_after, **details)
    if status >= 500:
        return ProviderUnavailableError(message, retry_after=retry_after, **details)
    if status == 408:
        return TransientProviderError(message, retry_after=retry_after, **details)
    if 400 <= status < 500:
        return ProviderBadRequestError(message, **details)
    return ProviderError(message, **details)


def _json(response: httpx.Response) -> object:
    try:
        return response.json()
    except (ValueError, httpx.ResponseNotRead, httpx.StreamError):
        return None


def _message(status: int, body: object) -> str:
    fallback = f"Runway answered HTTP {status}"
    if not isinstance(body, dict):
        return fallback
    error = body.get("error")
    text = error if isinstance(error, str) and error else fallback
    issues = body.get("issues")
    if isinstance(issues, list) and issues:
        described = [_issue(issue) for issue in issues[:3] if isinstance(issue, dict)]
        if described:
            text = f"{text}: {'; '.join(described)}"
    return text if text.startswith("Runway") else f"Runway: {text}"


def _issue(issue: dict[str, Any]) -> str:
    path = issue.get("path")
    where = ".".join(str(part) for part in path) if isinstance(path, list) else ""
    message = str(issue.get("message", "invalid"))
    return f"{where}: {message}" if where else message
