"""The OpenAI-compatible chat endpoint that plans long videos and enhances prompts.

One place builds the client from the settings and one place translates the SDK's errors into
sorakit's tree, so the planner and the enhancer only see `ProviderError`s.
"""

from __future__ import annotations

import logging
from typing import Any

import openai

from sorakit.errors import (
    ConfigurationError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
)
from sorakit.providers._http import parse_retry_after
from sorakit.settings import Settings

logger = logging.getLogger(__name__)

PROVIDER = "chat"
"""The name chat errors carry in `ProviderError.provider`."""
DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_TIMEOUT = 60.0
EMPTY_ANSWER = "empty_answer"
"""The `ProviderError.code` of an answer with no text (worth asking again)."""


def chat_api_key(settings: Settings) -> str | None:
    """The chat endpoint's key: `SORAKIT_CHAT_API_KEY`, else `OPENAI_API_KEY`, else None."""
    secret = settings.chat_api_key or settings.openai_api_key
    if secret is None:
        return None
    value = secret.get_secret_value().strip()
    return value or None


def chat_base_url(settings: Settings) -> str:
    """The chat endpoint's base URL: `SORAKIT_CHAT_BASE_URL`, else `OPENAI_BASE_URL`, else OpenAI."""
    return settings.chat_base_url or settings.openai_base_url or DEFAULT_BASE_URL


def chat_client(
    settings: Settings, *, timeout: float = DEFAULT_TIMEOUT, max_retries: int = 2
) -> openai.AsyncOpenAI:
    """An `AsyncOpenAI` client for the chat endpoint; the caller closes it."""
    key = chat_api_key(settings)
    if key is None:
        raise ConfigurationError(
            "no chat API key is set: set SORAKIT_CHAT_API_KEY (or OPENAI_API_KEY) to plan and "
            "enhance prompts with a chat model"
        )
    # Both given explicitly: the SDK must not read OPENAI_* behind the settings' back.
    return openai.AsyncOpenAI(
        api_key=key, base_url=chat_base_url(settings), timeout=timeout, max_retries=max_retries
    )


async def complete(
    client: openai.AsyncOpenAI,
    *,
    model: str,
    messages: list[dict[str, str]],
    json_schema: dict[str, Any] | None = None,
    schema_name: str = "answer",
) -> str:
    """The assistant's text for `messages` (strict JSON-schema output when a schema is given).

    Raises a `ProviderError` subclass for every failure, an empty answer included.
    """
    extra: dict[str, Any] = {}
    if json_schema is not None:
        extra["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": schema_name, "strict": True, "schema": json_schema},
        }
    try:
        completion = await client.chat.completions.create(
            model=model,
            messages=messages,  # type: ignore[arg-type]
            **extra,
        )
    except openai.OpenAIError as exc:
        raise translate(exc) from exc
    if not completion.choices:
        raise ProviderError("the chat model answered with no choices", provider=PROVIDER)
    message = completion.choices[0].message
    if message.refusal:
        raise ProviderBadRequestError(
            f"the chat model refused: {message.refusal}", provider=PROVIDER, code="refusal"
        )
    content = (message.content or "").strip()
    if not content:
        raise ProviderError(
            "the chat model answered with an empty message", provider=PROVIDER, code=EMPTY_ANSWER
        )
    if completion.choices[0].finish_reason == "length":
        raise ProviderError(
            "the chat model's answer was cut off at its length limit", provider=PROVIDER
        )
    return content


def translate(exc: openai.OpenAIError) -> ProviderError:
    """The sorakit error for an error the `openai` SDK raised."""
    if isinstance(exc, openai.APITimeoutError):
        return ProviderConnectionError("the chat endpoint timed out", provider=PROVIDER)
    if isinstance(exc, openai.APIConnectionError):
        return ProviderConnectionError(
            f"could not reach the chat endpoint: {exc.message}", provider=PROVIDER
        )
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        message = f"the chat endpoint answered HTTP {status}: {_error_message(exc)}"
        code = exc.code if isinstance(exc.code, str) else None
        if status in (401, 403):
            return ProviderAuthError(message, provider=PROVIDER, status_code=status, code=code)
        if status == 429:
            return RateLimitedError(
                message,
                provider=PROVIDER,
                status_code=status,
                code=code,
                retry_after=parse_retry_after(exc.response.headers),
            )
        if status >= 500:
            return ProviderUnavailableError(
                message, provider=PROVIDER, status_code=status, code=code
            )
        return ProviderBadRequestError(message, provider=PROVIDER, status_code=status, code=code)
    return ProviderError(f"the chat request failed: {exc}", provider=PROVIDER)


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return exc.message
