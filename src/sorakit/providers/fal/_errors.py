"""The one place where a fal answer, an SDK error or an httpx failure becomes a sorakit error.

```
fal answer / failure                      sorakit error
401, 403                                  ProviderAuthError
404, 410  looking a request up            NotFoundError (cause: ProviderBadRequestError)
400, 404, 422, other 4xx                  ProviderBadRequestError (the detail's messages kept)
408, 409                                  TransientProviderError
429                                       RateLimitedError(retry_after)
5xx                                       ProviderUnavailableError(retry_after)
timeout, connect, read, protocol          ProviderConnectionError
FalClientTimeoutError                     ProviderConnectionError
```

fal's error bodies are `{"detail": "text"}` or pydantic's `{"detail": [{"loc", "msg", "type"}]}`,
with an optional `error_type` (also sent as the `x-fal-error-type` header). A job that fails on
content or safety grounds (`content_policy_violation` and its kin) is not an exception but a
failed `RemoteJob` with `moderation_blocked`; `is_moderation` tells them apart.
"""

from __future__ import annotations

from typing import Any

import fal_client
import httpx

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

PROVIDER = "fal"

WIRE_ERRORS = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, fal_client.FalClientError)
"""Everything httpx or fal-client raises that must be translated before it leaves the provider."""

MODERATION_TYPES = frozenset(
    {"content_policy_violation", "content_moderation", "nsfw_content_detected", "safety_violation"}
)
_MODERATION_WORDS = ("content policy", "content_policy", "nsfw", "safety", "moderation")


def is_moderation(error_type: str | None, message: str | None) -> bool:
    """Whether a failure is a content-filter or safety refusal: by fal's error type when it
    sends one (an `enable_safety_checker` validation error is no refusal), else by its words."""
    if error_type:
        return error_type.lower() in MODERATION_TYPES
    text = (message or "").lower()
    return any(word in text for word in _MODERATION_WORDS)


def describe(body: Any, fallback: str) -> tuple[str, str | None]:
    """The message and error type of a fal error body, tolerating any other shape."""
    if not isinstance(body, dict):
        return fallback, None
    error_type = body.get("error_type") if isinstance(body.get("error_type"), str) else None
    detail = body.get("detail")
    if isinstance(detail, str) and detail:
        return detail, error_type
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if not isinstance(item, dict):
                continue
            loc = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
            msg = str(item.get("msg", "invalid"))
            parts.append(f"{loc}: {msg}" if loc else msg)
            kind = item.get("type")
            if isinstance(kind, str) and (error_type is None or kind in MODERATION_TYPES):
                error_type = kind  # a refusal among other problems names the whole answer
        if parts:
            return "; ".join(parts), error_type
    return fallback, error_type


def response_error(response: httpx.Response) -> tuple[str, str | None]:
    """The message and error type of an error answer."""
    fallback = f"fal answered HTTP {response.status_code}"
    try:
        body = response.json()
    except (ValueError, httpx.StreamError):
        body = None
    message, error_type = describe(body, fallback)
    return message, error_type or response.headers.get("x-fal-error-type")


def translate_error(
    failure: httpx.Response | Exception, *, lookup: str | None = None
) -> SorakitError:
    """The sorakit error for an error answer or a raised failure; `lookup` names the id looked up."""
    if isinstance(failure, fal_client.FalClientHTTPError):
        failure = failure.response
    if not isinstance(failure, httpx.Response):
        return _from_exception(failure)
    status = failure.status_code
    message, error_type = response_error(failure)
    details: dict[str, Any] = {"provider": PROVIDER, "status_code": status, "code": error_type}
    if status < 500 and is_moderation(error_type, message):  # refused at create: the job's code
        details["code"] = "moderation_blocked"
        message = f"{message} ({error_type})" if error_type else message
    retry_after = parse_retry_after(failure.headers)
    if status in (401, 403):
        return ProviderAuthError(f"fal refused the credential (FAL_KEY): {message}", **details)
    if status == 429:
        return RateLimitedError(message, retry_after=retry_after, **details)
    if status >= 500:
        return ProviderUnavailableError(message, retry_after=retry_after, **details)
    if status in (408, 409):
        return TransientProviderError(message, retry_after=retry_after, **details)
    cause = ProviderBadRequestError(message, **details)
    if lookup is not None and status in (404, 410):
        error = NotFoundError(f"fal does not know the request {lookup}: {message}", param="id")
        error.__cause__ = cause
        return error
    if 400 <= status < 500:
        return cause
    return ProviderError(message, **details)


def _from_exception(exc: Exception) -> SorakitError:
    if isinstance(exc, fal_client.FalClientTimeoutError):
        return ProviderConnectionError(f"fal did not answer in time ({exc})", provider=PROVIDER)
    if isinstance(
        exc,
        httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError | httpx.ProxyError,
    ):
        detail = str(exc) or type(exc).__name__
        return ProviderConnectionError(
            f"fal did not answer in full ({type(exc).__name__}: {detail})", provider=PROVIDER
        )
    return ProviderError(f"talking to fal failed ({type(exc).__name__}: {exc})", provider=PROVIDER)
