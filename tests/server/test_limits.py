"""Body limits and CORS: closed and bounded by default."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import httpx

from sorakit.settings import Settings

Serve = Callable[..., AbstractContextManager[str]]


def test_a_body_over_the_limit_is_refused_whole_or_streamed(
    settings: Settings, serve: Serve
) -> None:
    settings = settings.model_copy(update={"max_body_bytes": 2048})
    with serve(settings) as url, httpx.Client(base_url=url) as client:
        declared = client.post(
            "/v1/videos", content=b"x" * 4096, headers={"content-type": "application/json"}
        )
        assert declared.status_code == 413
        assert declared.json()["error"]["code"] == "request_too_large"

        def chunks() -> Iterator[bytes]:
            for _ in range(8):
                yield b"y" * 1024

        streamed = client.post(
            "/v1/videos", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413
        small = client.post("/v1/videos", json={"prompt": "fits", "seconds": "4"})
        assert small.status_code == 200


def test_cors_is_closed_unless_origins_are_named(settings: Settings, serve: Serve) -> None:
    preflight = {
        "Origin": "https://evil.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    with serve(settings) as url, httpx.Client(base_url=url) as client:
        answer = client.options("/v1/videos", headers=preflight)
        assert "access-control-allow-origin" not in answer.headers
    opened = settings.model_copy(update={"cors_origins": ["https://studio.example"]})
    with serve(opened) as url, httpx.Client(base_url=url) as client:
        allowed = client.options(
            "/v1/videos", headers={**preflight, "Origin": "https://studio.example"}
        )
        assert allowed.headers["access-control-allow-origin"] == "https://studio.example"
        refused = client.options("/v1/videos", headers=preflight)
        assert "access-control-allow-origin" not in refused.headers
