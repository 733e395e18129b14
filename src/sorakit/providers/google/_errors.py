"""The one place where a google-genai failure becomes a sorakit error.

```
SDK failure                                          sorakit error
401, 403                                             ProviderAuthError
400, 404, 409, 422, other 4xx                        ProviderBadRequestError
429 (`RESOURCE_EXHAUSTED`)                           RateLimitedError(retry_after)
5xx                                                  ProviderUnavailableError(retry_after)
timeout, connect, reset (httpx, httpx2, SDK wraps)   ProviderConnectionError
anything else the SDK raises                         ProviderError
```

Two error families reach us: the Interactions client's status classes
(`google.genai._interactions.APIStatusError`, `.status_code`, `.response`) and the classic
`google.genai.errors.APIError` (`.code`, `.status`, `.message`, `.response`) that
`models.generate_videos` and `operations.get` raise. Both carry the Google envelope
`{"error": {"code", "message", "status"}}`; its message is kept, never a credential.
"""

from __future__ import annotations

from typing import Any

import httpx
import httpx2
from google.genai import _interactions, errors as genai_errors

from sorakit.errors import (
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    SorakitError,
)
from sorakit.providers._http import parse_retry_after
from sorakit.providers.google._common import is_moderation

SDK_ERRORS: tuple[type[Exception], ...] = (
    _interactions.GeminiNextGenAPIClientError,
    genai_errors.APIError,
    httpx.HTTPError,
    httpx2.HTTPError,
    TimeoutError,
    ConnectionError,
)
"""Everything the SDK (or its transports) raises that must be translated at the boundary."""

_CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    _interactions.APIConnectionError,
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.ProxyError,  # a proxy that could not reach the host: nothing was sent
    httpx2.TimeoutException,
    httpx2.NetworkError,
    httpx2.RemoteProtocolError,
    httpx2.ProxyError,
    TimeoutError,
    ConnectionError,
)


def translate(exc: Exception, *, provider: str) -> SorakitError:
    """The sorakit error for anything google-genai raised while talking to `provider`."""
    if isinstance(exc, _CONNECTION_ERRORS):
        return ProviderConnectionError(
            f"the {provider} provider did not answer in full ({type(exc).__name__}: {exc})",
            provider=provider,
        )
    if isinstance(exc, _interactions.APIStatusError):
        status = exc.status_code
        message, code = _envelope(exc.body, fallback=exc.message)
        if "API_KEY_INVALID" in repr(exc.body):  # Google answers a bad key with a 400
            status = 401
        return from_status(status, message, code, exc.response.headers, provider=provider)
    if isinstance(exc, genai_errors.APIError):
        headers = getattr(exc.response, "headers", None)
        message = exc.message or f"HTTP {exc.code}"
        return from_status(exc.code, message, exc.status, headers, provider=provider)
    return ProviderError(
        f"talking to the {provider} provider failed ({type(exc).__name__}: {exc})",
        provider=provider,
    )


def from_status(
    status: int | None,
    message: str,
    code: str | None,
    headers: Any,
    *,
    provider: str,
) -> SorakitError:
    """The sorakit error for an HTTP error status with the envelope's message and code."""
    details: dict[str, Any] = {"provider": provider, "status_code": status, "code": code}
    text = f"{provider}: {message}"
    if status in (401, 403):
        return ProviderAuthError(text, **details)
    if status == 429:
        return RateLimitedError(
            text, retry_after=parse_retry_after(headers) if headers is not None else None, **details
        )
    if status is not None and status >= 500:
        return ProviderUnavailableError(
            text, retry_after=parse_retry_after(headers) if headers is not None else None, **details
        )
    if status is not None and 400 <= status < 500:
        if is_moderation(message):  # a prompt or image refused by a safety filter at create
            details["code"] = "moderation_blocked"
        return ProviderBadRequestError(text, **details)
    return ProviderError(text, **details)


def _envelope(body: object, *, fallback: str) -> tuple[str, str | None]:
    """The message and status of a Google error envelope, tolerating any other body."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = error.get("message")
        status = error.get("status")
        return (
            message if isinstance(message, str) and message else fallback,
            status if isinstance(status, str) else None,
        )
    return fallback, None
