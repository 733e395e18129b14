"""A fake OpenAI-compatible chat-completions server (`POST /v1/chat/completions`) on loopback.

It behaves like the real API for what sorakit uses: Bearer auth with the 401 envelope, a
`json_schema` response format that must be strict (every property required,
`additionalProperties: false`, as OpenAI refuses otherwise), an answer built from that schema
(arrays get `minItems` elements), and faults on demand: a malformed answer, a wrong item count,
an empty message, JSON wrapped in prose and fences (a server that ignores strict output),
429 with Retry-After, 500, and a slow answer. Every request is recorded.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conftest import ThreadedServer

API_KEY = "sk-chat-test"

MODES = (
    "ok",
    "fenced",
    "malformed",
    "wrong_count",
    "empty",
    "rate_limited",
    "server_error",
    "slow",
)
"""`ok` answers; the others are the faults a test can script, one per request."""


@dataclass
class FakeChat:
    """The fake's state: its scripted faults, what it answers, and what it saw."""

    api_key: str = API_KEY
    script: list[str] = field(default_factory=list)
    """Modes for the next requests, one each; `ok` once it runs out."""
    slow_seconds: float = 2.0
    reply: Callable[[dict[str, Any]], str] | None = None
    """Text answers (no schema); the default rewrites the last user message."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    """Every JSON body that passed authentication, in order."""
    unauthorized: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def count(self) -> int:
        """How many authenticated requests arrived."""
        return len(self.requests)

    def _next_mode(self) -> str:
        with self._lock:
            mode = self.script.pop(0) if self.script else "ok"
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode}")
        return mode

    async def images(self, request: Request) -> JSONResponse:
        """`POST /v1/images/generations`, as gpt-image-1 answers: base64 PNGs of the asked size."""
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            self.unauthorized += 1
            return _error(
                401, "Incorrect API key provided.", "invalid_request_error", code="invalid_api_key"
            )
        body = await request.json()
        self.requests.append(body)
        size = body.get("size", "1024x1024")
        if size not in ("1024x1024", "1536x1024", "1024x1536", "auto"):
            return _error(400, f"Invalid value: '{size}'.", "invalid_request_error", param="size")
        width, height = (1024, 1024) if size == "auto" else map(int, size.split("x"))
        import base64
        import io

        from PIL import Image

        shade = (len(self.requests) * 40) % 256
        buffer = io.BytesIO()
        Image.new("RGB", (width, height), (shade, 90, 160)).save(buffer, "PNG")
        data = [{"b64_json": base64.b64encode(buffer.getvalue()).decode()}]
        return JSONResponse({"created": 1_763_900_000, "data": data})

    async def completions(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            self.unauthorized += 1
            return _error(
                401,
                "Incorrect API key provided. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                code="invalid_api_key",
            )
        body = await request.json()
        with self._lock:
            self.requests.append(body)
        problem = _check_body(body)
        if problem is not None:
            return _error(400, problem, "invalid_request_error", param="response_format")
        mode = self._next_mode()
        if mode == "rate_limited":
            return _error(
                429,
                "Rate limit reached for requests.",
                "requests",
                code="rate_limit_exceeded",
                headers={"retry-after": "7"},
            )
        if mode == "server_error":
            return _error(
                500, "The server had an error while processing your request.", "server_error"
            )
        if mode == "slow":
            await asyncio.sleep(self.slow_seconds)
        return JSONResponse(_completion(body, self._content(body, mode)))

    def _content(self, body: dict[str, Any], mode: str) -> str:
        if mode == "empty":
            return ""
        response_format = body.get("response_format") or {}
        if response_format.get("type") == "json_schema":
            if mode == "malformed":
                return '{"title": "cut off", "segments": [{"title": "one", "pro'
            schema = response_format["json_schema"]["schema"]
            instance = _instance(schema, _last_user(body), extra_item=mode == "wrong_count")
            if mode == "fenced":  # what a server that ignores strict output tends to send
                return f"Here is the plan:\n```json\n{json.dumps(instance, indent=2)}\n```"
            return json.dumps(instance)
        if mode == "malformed":
            return "   "
        if self.reply is not None:
            return self.reply(body)
        return f"Cinematic rewrite: {_last_user(body)}, golden hour light, slow dolly-in."


def _check_body(body: dict[str, Any]) -> str | None:
    """OpenAI's refusals of a request this fake can check, as their messages."""
    if not isinstance(body.get("model"), str) or not body.get("messages"):
        return "'model' and 'messages' are required."
    response_format = body.get("response_format")
    if response_format is None or response_format.get("type") != "json_schema":
        return None
    spec = response_format.get("json_schema") or {}
    if not spec.get("name") or not isinstance(spec.get("schema"), dict):
        return "Missing required parameter: 'response_format.json_schema.name'."
    if spec.get("strict"):
        return _strict_problem(spec["schema"], "schema")
    return None


def _strict_problem(schema: dict[str, Any], where: str) -> str | None:
    if schema.get("type") == "object":
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is not False:
            return (
                f"Invalid schema for response_format: In context={where}, "
                "'additionalProperties' is required to be supplied and to be false."
            )
        if sorted(schema.get("required", [])) != sorted(properties):
            return (
                f"Invalid schema for response_format: In context={where}, 'required' is "
                "required to be supplied and to be an array including every key in properties."
            )
        for name, sub in properties.items():
            problem = _strict_problem(sub, f"{where}.{name}")
            if problem:
                return problem
    if schema.get("type") == "array":
        return _strict_problem(schema.get("items", {}), f"{where}.items")
    return None


def _instance(schema: dict[str, Any], topic: str, *, extra_item: bool = False) -> Any:
    """A value that fits `schema`, its strings made from the path and the request's topic.

    `extra_item` adds one item too many to each top-level array (a model that miscounts).
    """
    counter = itertools.count(1)

    def build(node: dict[str, Any], path: str) -> Any:
        kind = node.get("type")
        if kind == "object":
            return {name: build(sub, f"{path}.{name}") for name, sub in node["properties"].items()}
        if kind == "array":
            count = int(node.get("minItems", 1))
            return [build(node["items"], f"{path}[{index}]") for index in range(count)]
        if kind == "integer":
            return next(counter)
        return f"{path.lstrip('.')} #{next(counter)}: {topic[:80]}"

    value = build(schema, "")
    if extra_item and isinstance(value, dict):
        for name, sub in schema["properties"].items():
            if sub.get("type") == "array":
                value[name].append(build(sub["items"], f".{name}[extra]"))
    return value


def _last_user(body: dict[str, Any]) -> str:
    for message in reversed(body["messages"]):
        if message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def _completion(body: dict[str, Any], content: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-fake{int(time.time() * 1000)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


def _error(
    status: int,
    message: str,
    kind: str,
    *,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    envelope = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(envelope, status_code=status, headers=headers)


@contextmanager
def serve_chat(fake: FakeChat) -> Iterator[str]:
    """Run `fake` on loopback; yields its base URL (ending in `/v1`)."""
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", fake.completions, methods=["POST"]),
            Route("/v1/images/generations", fake.images, methods=["POST"]),
        ]
    )
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    with ThreadedServer(config).running() as url:
        yield f"{url}/v1"
