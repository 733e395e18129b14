"""The `openai` provider: any server that speaks the OpenAI Videos API (`/v1/videos`).

That is another `sorakit serve`, a reseller or gateway with an OpenAI-compatible video surface, or
the old api.openai.com (which stopped serving it on 2026-09-24). It is spoken with httpx and our
own wire models (`sorakit.wire.videos`), not the official SDK, whose `videos` methods are
deprecated.

- `_provider`: `OpenAIProvider`, the provider seam over one `httpx.AsyncClient`.
- `_bodies`: the request bodies of each job kind, as JSON or bracket-nested multipart.
- `_answers`: answers of servers that bend the contract (vLLM-Omni, SGLang), read as it says.
- `_errors`: the one translation of error answers and httpx failures into `sorakit.errors`.
- `_images`: image jobs over the Images API (`/images/generations`, `/images/edits`),
  answered at once and spooled so a paid image is never paid for twice.
"""

from __future__ import annotations

from sorakit.providers._http import parse_retry_after
from sorakit.providers.openai._errors import translate_error
from sorakit.providers.openai._provider import OpenAIProvider

__all__ = ["OpenAIProvider", "parse_retry_after", "translate_error"]
