"""Input that once answered 500: each is a 4xx in the OpenAI envelope, on a connection kept open.

A 500 that re-raised out of the app also made uvicorn drop the keep-alive connection, so every
test here checks that the next request travels on the same connection (the same local port).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sorakit.settings import Settings
from tests.cli.test_cli import sorakit
from tests.gateway.test_tenants import make_key

Serve = Callable[..., contextlib.AbstractContextManager[str]]


class KeptClient(httpx.Client):
    """An httpx client that notes the local port of every answer's connection."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        super().__init__(
            base_url=base_url,
            timeout=30,
            headers={"authorization": f"Bearer {token}"} if token else {},
            event_hooks={"response": [self._note]},
        )
        self.ports: list[int] = []

    def _note(self, response: httpx.Response) -> None:
        stream = response.extensions["network_stream"]
        self.ports.append(stream.get_extra_info("client_addr")[1])

    def assert_kept(self) -> None:
        """A good request still works, on the one connection every request so far used."""
        assert self.get("/healthz").status_code == 200
        assert len(set(self.ports)) == 1, f"the server dropped the connection: {self.ports}"


@pytest.fixture
def admin(settings: Settings, serve: Serve) -> Iterator[KeptClient]:
    """A gateway with no tenant key (so /v1 is open) and a client holding its admin key."""
    token = make_key(settings, "root", admin=True)
    with serve(settings) as url, KeptClient(url, token) as client:
        yield client


def assert_refused(response: httpx.Response, status: int | None = None) -> dict[str, Any]:
    """A 4xx (`status`, when given) in the OpenAI error envelope."""
    assert 400 <= response.status_code < 500, response.text
    assert status is None or response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return error


# rpm, concurrency, budget


def test_a_fractional_rpm_from_the_cli_is_a_rate_not_a_500(
    settings: Settings, serve: Serve, isolated_env: Path
) -> None:
    made = sorakit("keys", "create", "slow", "--rpm", "0.5", home=isolated_env)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    with serve(settings) as url, KeptClient(f"{url}", token) as client:
        first = client.post("/v1/videos", json={"prompt": "a cat", "seconds": "4"})
        assert first.status_code == 200, first.text
        second = client.post("/v1/videos", json={"prompt": "a dog", "seconds": "4"})
        error = assert_refused(second, 429)
        assert (
            error["code"] == "rate_limit_exceeded" and "0.5 videos per minute" in error["message"]
        )
        assert 60 < int(second.headers["retry-after"]) <= 120  # one video per two minutes
        client.assert_kept()


@pytest.mark.parametrize(
    "option", [("--rpm", "0"), ("--rpm", "nan"), ("--rpm", "1e12"), ("--budget", "-5")]
)
def test_the_cli_refuses_a_limit_that_cannot_be_kept(
    option: tuple[str, str], isolated_env: Path
) -> None:
    result = sorakit("keys", "create", "bad", *option, home=isolated_env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sorakit: "), result.stderr


BAD_LIMITS: list[dict[str, Any]] = [
    {"rpm": 0},
    {"rpm": -1},
    {"rpm": 1e12},
    {"rpm": "10"},
    {"concurrency": 0},
    {"concurrency": 1.5},
    {"concurrency": 1e30},
    {"budget_usd": -1},
    {"budget_usd": True},
]


def test_the_admin_api_refuses_a_limit_that_cannot_be_kept(admin: KeptClient) -> None:
    for limits in BAD_LIMITS:
        error = assert_refused(admin.post("/admin/keys", json={"name": "bad", **limits}), 400)
        assert error["param"] in {"rpm", "concurrency", "budget", "budget_usd"}, limits
    assert [key["name"] for key in admin.get("/admin/keys").json()["data"]] == ["root"]
    admin.assert_kept()


# deeply nested JSON

DEEP = 1_000


def nested(depth: int) -> bytes:
    """A JSON object whose `prompt` is `depth` arrays deep."""
    return b'{"prompt": ' + b"[" * depth + b"]" * depth + b"}"


JSON_ROUTES = [
    ("POST", "/v1/videos"),
    ("POST", "/v1/videos/edits"),
    ("POST", "/v1/videos/extensions"),
    ("POST", "/v1/videos/video_0123456789abcdef0123456789abcdef/remix"),
    ("POST", "/v1/chat/completions"),
    ("POST", "/admin/keys"),
    ("PATCH", "/admin/keys/key_0123456789abcdef"),
    ("PUT", "/admin/pools/fal"),
    ("POST", "/admin/pools/fal/credentials"),
    ("PUT", "/admin/aliases/my-model"),
    ("PUT", "/admin/prices/sora-2"),
]
"""Every route that reads a JSON body."""


@pytest.mark.parametrize("depth", [DEEP, 100_000])
def test_deeply_nested_json_is_refused_on_every_json_route(admin: KeptClient, depth: int) -> None:
    for method, path in JSON_ROUTES:
        response = admin.request(
            method, path, content=nested(depth), headers={"content-type": "application/json"}
        )
        assert "nested" in assert_refused(response, 400)["message"], path
    admin.assert_kept()


def test_json_nested_a_little_is_still_read(admin: KeptClient) -> None:
    response = admin.post("/v1/videos", content=nested(20))
    assert "prompt" in assert_refused(response, 400)["message"]  # a list is not a prompt


# overlong ids


LONG = "char_" + "a" * 300


ODD_IDS = [
    ("GET", f"/v1/videos/characters/{LONG}"),
    ("GET", "/v1/videos/characters/char_%00"),
    ("GET", f"/v1/videos/{LONG}"),
    ("GET", "/v1/videos/video_%00"),
    ("GET", "/v1/videos?after=video_%00"),
    ("GET", f"/v1/videos/{LONG}/content"),
    ("DELETE", f"/v1/videos/{LONG}"),
    ("POST", f"/v1/videos/{LONG}/remix"),
    ("GET", f"/v1/models/{LONG}"),
    ("PATCH", f"/admin/keys/{LONG}"),
    ("DELETE", f"/admin/keys/{LONG}"),
    ("DELETE", "/admin/keys/key_%00"),
    ("PATCH", f"/admin/pools/fal/credentials/{LONG}"),
    ("DELETE", f"/admin/pools/fal/credentials/{LONG}"),
    ("GET", f"/admin/aliases/{LONG}"),
    ("GET", f"/admin/prices/{LONG}"),
    ("GET", "/admin/log?key_id=key_%00"),
]
"""Every path parameter (and the query ids), overlong or holding a NUL (which Postgres refuses)."""


def test_an_overlong_or_odd_id_is_a_4xx(admin: KeptClient) -> None:
    body = {"prompt": "again", "webhook_url": None, "enabled": False}
    for method, path in ODD_IDS:
        response = admin.request(method, path, json=body if method in {"POST", "PATCH"} else None)
        assert_refused(response)
    admin.assert_kept()


def test_a_character_id_is_checked_before_it_becomes_a_file(admin: KeptClient) -> None:
    missing = admin.get("/v1/videos/characters/char_missing")
    overlong = admin.get(f"/v1/videos/characters/{LONG}")
    assert overlong.status_code == missing.status_code == 404
    cast = admin.post(
        "/v1/videos", json={"prompt": "a cat", "seconds": "4", "characters": [{"id": LONG}]}
    )
    assert assert_refused(cast)["param"] == "characters"
    admin.assert_kept()


# anything unexpected


def test_an_unexpected_error_is_a_500_envelope_on_a_kept_connection(
    admin: KeptClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug")

    # The server runs in this process: a bug is planted where any route could hit one.
    monkeypatch.setattr("sorakit.engine.engine.Engine.get_character", broken)
    response = admin.get("/v1/videos/characters/char_abc")
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "message": "The server had an error while processing your request.",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
    assert "a bug" not in response.text
    admin.assert_kept()
    assert json.loads(admin.get("/v1/models").text)["object"] == "list"


def test_the_cli_refuses_a_deeply_nested_batch_file(isolated_env: Path, tmp_path: Path) -> None:
    deep = tmp_path / "deep.jsonl"
    deep.write_bytes(nested(100_000) + b"\n")
    result = sorakit("batch", str(deep), home=isolated_env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "nests too deeply" in lines[0], result.stderr
