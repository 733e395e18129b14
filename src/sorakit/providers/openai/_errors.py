"""The one place where an answer or an httpx failure from a `/v1/videos` server becomes a sorakit error.

```
HTTP answer / httpx failure          sorakit error
400, 422, other 4xx                  ProviderBadRequestError
415, or 422 for missing body fields  ProviderBadRequestError, code `json_body_refused` (see below)
404, 410  looking an object up       NotFoundError (cause: ProviderBadRequestError with the details)
404, 410  anything else              ProviderBadRequestError (a wrong model, path or base URL)
401, 403                             ProviderAuthError
409       looking an object up       InvalidStateError (content before completion, delete while running)
409       anything else              TransientProviderError (a create racing one with the same key)
408                                  TransientProviderError
429                                  RateLimitedError(retry_after)
5xx                                  ProviderUnavailableError(retry_after)
timeout, connect, read, write,
  remote protocol, proxy             ProviderConnectionError
unsupported scheme, invalid URL      ConfigurationError (names OPENAI_BASE_URL)
anything else                        ProviderError
```

A server that reads form fields only (vLLM-Omni) answers a JSON body with 415, or with FastAPI's
422 saying that required `body` fields are missing: `JSON_REFUSED` marks that error so the
provider can send the same body once more as a form. FastAPI's list-shaped `detail` is rendered
as `body.prompt: Field required; ...` in the message.

`retry_after` comes from `retry-after-ms`, else `retry-after` (seconds or an HTTP date), as the
official SDK reads them. `NotFoundError` and `InvalidStateError` carry no provider or status
code, so the `ProviderBadRequestError` that does is chained as their `__cause__`.
"""

from __future__ import annotations

from typing import Any

import httpx

from sorakit.errors import (
    ConfigurationError,
    InvalidStateError,
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

PROVIDER = "openai"

JSON_REFUSED = "json_body_refused"
"""The code of a refusal that means the server could not read a JSON body, only a form."""

HTTPX_ERRORS = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError)
"""Everything httpx raises that must be translated before it leaves the provider."""

_CONNECTION_ERRORS = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.ProxyError,
)


def translate_error(
    failure: httpx.Response | Exception, *, lookup: str | None = None
) -> SorakitError:
    """The sorakit error for an error answer or an httpx exception; `lookup` names the id looked up."""
    if not isinstance(failure, httpx.Response):
        return _from_exception(failure)
    response = failure
    status = response.status_code
    message, code = _envelope(response)
    retry_after = parse_retry_after(response.headers)
    details: dict[str, Any] = {"provider": PROVIDER, "status_code": status, "code": code}
    if status in (401, 403):
        return ProviderAuthError(message, **details)
    if status == 429:
        return RateLimitedError(message, retry_after=retry_after, **details)
    if status >= 500:
        return ProviderUnavailableError(message, retry_after=retry_after, **details)
    if status == 408 or (status == 409 and lookup is None):
        return TransientProviderError(message, retry_after=retry_after, **details)
    if status == 415 or (status == 422 and _missing_body_fields(response)):
        details["code"] = JSON_REFUSED
    cause = ProviderBadRequestError(message, **details)
    if lookup is not None and status in (404, 410):
        error: SorakitError = NotFoundError(message, param=lookup)
    elif lookup is not None and status == 409:
        error = InvalidStateError(message)
    elif 400 <= status < 500:
        return cause
    else:
        return ProviderError(message, **details)
    error.__cause__ = cause
    return error


def _from_exception(exc: Exception) -> SorakitError:
    url = _request_url(exc)
    where = f" at {url}" if url else ""
    if isinstance(exc, _CONNECTION_ERRORS):
        detail = str(exc) or type(exc).__name__
        return ProviderConnectionError(
            f"the openai provider{where} did not answer in full ({type(exc).__name__}: {detail})",
            provider=PROVIDER,
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ConfigurationError(
            f"the openai provider's URL{where} is not usable ({exc}); check OPENAI_BASE_URL"
        )
    return ProviderError(
        f"talking to the openai provider{where} failed ({type(exc).__name__}: {exc})",
        provider=PROVIDER,
    )


def _request_url(exc: Exception) -> str | None:
    if not isinstance(exc, httpx.RequestError):
        return None
    try:
        return str(exc.request.url.copy_with(query=None))
    except RuntimeError:  # no request attached
        return None


def _envelope(response: httpx.Response) -> tuple[str, str | None]:
    """The message and code of an OpenAI error envelope, tolerating any other body."""
    fallback = f"the openai provider answered HTTP {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return (f"{fallback}: {text[:300]}" if text else fallback), None
    except httpx.StreamError:  # the body broke off before it could be read
        return fallback, None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = error.get("message")
        code = error.get("code")
        return (
            message if isinstance(message, str) and message else fallback,
            code if isinstance(code, str) else None,
        )
    if isinstance(error, str) and error:  # some proxies send {"error": "text"}
        return error, None
    detail = body.get("detail") if isinstance(body, dict) else None  # FastAPI's default shape
    if isinstance(detail, str) and detail:
        return f"{fallback}: {detail}", None
    if isinstance(detail, list) and detail:  # FastAPI's validation errors
        return f"{fallback}: {_validation_text(detail)}", None
    return fallback, None


def _validation_text(items: list[Any]) -> str:
    parts = []
    for item in items[:5]:
        if isinstance(item, dict):
            where = ".".join(str(part) for part in item.get("loc") or ())
            parts.append(
                f"{where}: {item.get('msg', 'invalid')}" if where else str(item.get("msg"))
            )
    return "; ".join(parts)[:300] or "invalid request"


def _missing_body_fields(response: httpx.Response) -> bool:
    """Whether a 422 is FastAPI saying that required body fields are missing, and only that.

    That is what a form-only endpoint answers to a JSON body: it read no field at all.
    """
    try:
        body = response.json()
    except (ValueError, httpx.StreamError):
        return False
    detail = body.get("detail") if isinstance(body, dict) else None
    if not isinstance(detail, list) or not detail:
        return False
    return all(
        isinstance(item, dict)
        and item.get("type") in ("missing", "value_error.missing")
        and list(item.get("loc") or ())[:1] == ["body"]
        for item in detail
    )
