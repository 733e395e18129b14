"""A fake OpenAI chat-completions server that writes cinematic shot plans, or answers badly.

It behaves as the real API does for what the cinematic rewrite uses: Bearer auth, the strict
`json_schema` checks of `tests.pipelines.chat_fake`, a 404 `model_not_found` for a model it does
not serve, and `finish_reason: "length"` with the text cut where the token limit fell. Its good
answer fills the schema from the request: the idea's words in every field and as many beats as
the system prompt asks for, evenly over the asked duration. Scripted faults, one per request:
`prose` (text, not JSON), `cut` (the length limit), `mismatch` (a field missing), `empty_field`,
`overlap` (two beats overlap) and `short` (the timeline stops early).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conftest import ThreadedServer
from tests.pipelines.chat_fake import _check_body

API_KEY = "sk-cinematic-test"
MODELS = ("gpt-4.1-mini",)
"""The models this fake serves; any other is answered with OpenAI's 404."""
FAULTS = ("prose", "cut", "mismatch", "empty_field", "overlap", "short")

_BEATS = re.compile(r"about (\d+) beats for (\d+(?:\.\d+)?) seconds")


@dataclass
class CinematicChat:
    """The fake's state: its scripted faults and every request it saw."""

    script: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def completions(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return _error(401, "Incorrect API key provided.", code="invalid_api_key")
        body = await request.json()
        with self._lock:
            self.requests.append(body)
            fault = self.script.pop(0) if self.script else None
        problem = _check_body(body)
        if problem is not None:
            return _error(400, problem, param="response_format")
        if body["model"] not in MODELS:
            return _error(
                404,
                f"The model `{body['model']}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
        plan = _plan(body)
        if fault == "prose":
            return _answer(body, f"Sure! Here is your shot plan: {plan['primary_subject']}.")
        if fault == "cut":
            text = json.dumps(plan)
            return _answer(body, text[: len(text) // 2], finish_reason="length")
        if fault == "mismatch":
            del plan["camera"]
        elif fault == "empty_field":
            plan["look"] = "  "
        elif fault == "overlap":
            plan["beats"][1]["start"] = plan["beats"][0]["end"] - 1.5
        elif fault == "short":
            plan["beats"][-1]["end"] -= 2
        return _answer(body, json.dumps(plan))


def _plan(body: dict[str, Any]) -> dict[str, Any]:
    system, user = body["messages"][0]["content"], json.loads(body["messages"][-1]["content"])
    asked = _BEATS.search(system)
    assert asked, system
    count, seconds = int(asked.group(1)), float(user["duration_seconds"])
    idea = user["idea"]
    edges = [round(seconds * index / count, 1) for index in range(count)] + [seconds]
    return {
        "primary_subject": f"{idea}, seen clearly",
        "setting": f"the world of {idea}",
        "look": "35 mm film, warm grade",
        "camera": "slow dolly on a 35 mm lens",
        "lighting": "soft window light",
        "beats": [
            {
                "start": start,
                "end": end,
                "action": f"beat {number} of {idea}",
                "camera": f"camera move {number}",
            }
            for number, (start, end) in enumerate(zip(edges, edges[1:], strict=False), 1)
        ],
    }


def _answer(body: dict[str, Any], content: str, *, finish_reason: str = "stop") -> JSONResponse:
    return JSONResponse(
        {
            "id": f"chatcmpl-cine{int(time.time() * 1000)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {"prompt_tokens": 50, "completion_tokens": 90, "total_tokens": 140},
        }
    )


def _error(
    status: int, message: str, *, param: str | None = None, code: str | None = None
) -> JSONResponse:
    envelope = {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    }
    return JSONResponse(envelope, status_code=status)


@contextmanager
def serve_cinematic(fake: CinematicChat) -> Iterator[str]:
    """Run `fake` on loopback; yields its base URL (ending in `/v1`)."""
    app = Starlette(routes=[Route("/v1/chat/completions", fake.completions, methods=["POST"])])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    with ThreadedServer(config).running() as url:
        yield f"{url}/v1"
