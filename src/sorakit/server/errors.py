"""The one place where errors become the OpenAI error envelope.

`{"error": {"message", "type", "param", "code"}}` with the status an OpenAI client expects, for
our own error tree, FastAPI's validation errors, unknown routes, and (in the app's outermost
middleware) anything unexpected.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sorakit.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidRequestError,
    InvalidStateError,
    JobFailedError,
    JobTimeoutError,
    LimitExceededError,
    NotFoundError,
    PermissionDeniedError,
    ProviderAuthError,
    ProviderBadRequestError,
    RateLimitedError,
    SorakitError,
    TransientProviderError,
)
from sorakit.wire.videos import ErrorEnvelope

logger = logging.getLogger(__name__)

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorEnvelope, "description": "Refused, in the OpenAI error envelope."},
    "5XX": {"model": ErrorEnvelope, "description": "Failed, in the OpenAI error envelope."},
}
"""What a router documents for its errors (FastAPI's 422 shape is never answered here)."""

_STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def envelope(
    status: int,
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    error_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An OpenAI-style error response."""
    body = {
        "error": {
            "message": message,
            "type": error_type or _STATUS_TYPES.get(status, "server_error"),
            "param": param,
            "code": code,
        }
    }
    return JSONResponse(body, status_code=status, headers=headers)


def error_response(exc: SorakitError) -> JSONResponse:
    """Map our error tree onto an HTTP status and the envelope."""
    match exc:
        case InvalidRequestError():
            return envelope(400, exc.message, param=exc.param, code=exc.code)
        case AuthenticationError():
            return envelope(
                401, exc.message, code="invalid_api_key", headers={"www-authenticate": "Bearer"}
            )
        case PermissionDeniedError():
            return envelope(403, exc.message, param=exc.param, code="permission_denied")
        case LimitExceededError():
            headers = {"retry-after": str(max(1, round(exc.retry_after or 1)))}
            return envelope(429, exc.message, code=exc.code, headers=headers)
        case NotFoundError():
            code = "model_not_found" if exc.param == "model" else None
            return envelope(404, exc.message, param=exc.param, code=code)
        case InvalidStateError():
            return envelope(400, exc.message, code="invalid_state")
        case RateLimitedError():
            headers = {"retry-after": str(max(1, round(exc.retry_after or 1)))}
            return envelope(429, exc.message, code="rate_limit_exceeded", headers=headers)
        case ProviderAuthError():
            return envelope(
                502,
                f"The upstream provider refused our credential: {exc.message}",
                code="upstream_authentication_failed",
                error_type="server_error",
            )
        case ProviderBadRequestError():
            return envelope(400, exc.message, code=exc.code)
        case TransientProviderError():
            return envelope(
                503,
                f"The upstream provider is unavailable: {exc.message}",
                code="upstream_unavailable",
                error_type="server_error",
            )
        case JobFailedError():
            return envelope(400, exc.message, code=exc.code)
        case JobTimeoutError():  # the job goes on; only this wait gave up
            return envelope(504, exc.message, code="timeout", error_type="server_error")
        case ConfigurationError():
            logger.error("server error: %s", exc)
            return envelope(500, exc.message, error_type="server_error")
        case _:
            return envelope(502, exc.message, error_type="server_error")


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error in the envelope."""

    @app.exception_handler(SorakitError)
    async def _sorakit(_request: Request, exc: SorakitError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [
            str(part)
            for part in first.get("loc", ())
            if part not in ("body", "query", "path", "header", "cookie")
        ]
        param = ".".join(loc) or None
        message = first.get("msg", "Invalid request.")
        return envelope(
            400, f"Invalid value for '{param}': {message}" if param else message, param=param
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if exc.status_code == 404 and message == "Not Found":
            message = "Unknown request URL. Please check the URL and method."
        return envelope(exc.status_code, message, headers=getattr(exc, "headers", None))


class UnexpectedErrorMiddleware:
    """Answers any other exception with a 500 in the envelope, keeping the connection open.

    Starlette's last-resort handler answers and then re-raises, and uvicorn closes a keep-alive
    connection on an exception; so the app's outermost layer answers here and raises nothing,
    unless half an answer is already out (only closing the connection can tell the client so).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            logger.exception("unhandled error", exc_info=exc)
            response = envelope(500, "The server had an error while processing your request.")
            await response(scope, receive, send)
