"""Over HTTP a reference image is an upload, a data URL or a guarded http(s) URL: never a server path.

Tenant B must not get tenant A's archived `reference.png` (or any file on the server) into its
video by naming its path, nor learn from the refusal whether such a file exists.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sorakit.security.ssrf import Policy
from sorakit.settings import Settings
from tests.conftest import FakeProvider, ThreadedServer
from tests.engine.test_frames import png
from tests.gateway.test_tenants import make_key
from tests.server.test_frames_and_callbacks import running, wait_for

RED = png((1280, 720), "red")
LOOPBACK = Policy(allow=(ipaddress.ip_network("127.0.0.0/8"),))


def data_url(image: bytes) -> str:
    return f"data:image/png;base64,{base64.b64encode(image).decode()}"


@contextlib.contextmanager
def tenants(settings: Settings, fake: FakeProvider) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Alice and Bob, two API keys on one gateway serving `frames-1` (first and last frames)."""
    alice_key, bob_key = make_key(settings, "alice"), make_key(settings, "bob")
    with (
        running(settings, fake) as (url, _),
        httpx.Client(base_url=url, headers={"authorization": f"Bearer {alice_key}"}) as alice,
        httpx.Client(base_url=url, headers={"authorization": f"Bearer {bob_key}"}) as bob,
    ):
        yield alice, bob


def alices_reference(settings: Settings, alice: httpx.Client) -> Path:
    """Alice makes a video from her private red frame; the path of its archived copy."""
    answer = alice.post(
        "/v1/videos",
        json={
            "prompt": "my secret",
            "model": "frames-1",
            "input_reference": {"image_url": data_url(RED)},
        },
    )
    assert answer.status_code == 200, answer.text
    video_id = answer.json()["id"]
    wait_for(alice, video_id, "completed")
    (archived,) = (settings.assets_dir / video_id).glob("reference.*")
    return archived


def json_bodies(path: str) -> dict[str, dict[str, Any]]:
    """A JSON create body per field that takes an image, each naming `path`."""
    image = {"image_url": path}
    return {
        "input_reference": {"input_reference": image},
        "last_frame": {"input_reference": {"image_url": data_url(RED)}, "last_frame": image},
        "reference_images[0]": {"reference_images": [image]},
    }


def refused(response: httpx.Response, param: str) -> bytes:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == f"{param}.image_url"
    return response.content


def test_a_tenant_cannot_read_another_tenants_reference_by_its_path(settings: Settings) -> None:
    fake = FakeProvider(steps=1)
    with tenants(settings, fake) as (alice, bob):
        archived = alices_reference(settings, alice)
        sent = len(fake.requests)
        missing = archived.with_name("nothing-here.png")
        relative = Path("..") / archived.relative_to(settings.home.parent)
        for param in json_bodies(""):
            bodies = {
                str(p): refused(
                    bob.post(
                        "/v1/videos",
                        json={
                            "prompt": "mine now",
                            "model": "frames-1",
                            **json_bodies(str(p))[param],
                        },
                    ),
                    param,
                )
                for p in (archived, missing, f"file://{archived}", relative)
            }
            # The answer never depends on the server's files: existing and missing read alike.
            assert len(set(bodies.values())) == 1, bodies
            assert str(archived) not in next(iter(bodies.values())).decode()

        form = bob.post(
            "/v1/videos",
            data={
                "prompt": "mine now",
                "model": "frames-1",
                "input_reference[image_url]": str(archived),
            },
        )
        missing_form = bob.post(
            "/v1/videos",
            data={
                "prompt": "mine now",
                "model": "frames-1",
                "input_reference[image_url]": str(missing),
            },
        )
        assert refused(form, "input_reference") == refused(missing_form, "input_reference")
        assert bob.get("/v1/videos").json()["data"] == []
    assert len(fake.requests) == sent  # nothing of Bob's reached the provider


def test_an_http_reference_is_fetched_through_the_ssrf_guard(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def serve_png(_: Request) -> Response:
        return Response(RED, media_type="image/png")

    images = Starlette(routes=[Route("/red.png", serve_png)])
    config = uvicorn.Config(images, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    fake = FakeProvider(steps=1)
    with tenants(settings, fake) as (_, bob), ThreadedServer(config).running() as host:
        body = {"prompt": "a red start", "model": "frames-1"}
        remote = {"image_url": f"{host}/red.png"}
        blocked = bob.post("/v1/videos", json={**body, "input_reference": remote})
        refused(blocked, "input_reference")
        assert blocked.json()["error"]["code"] == "ssrf_blocked"
        assert "loopback" in blocked.json()["error"]["message"]

        # Allowed to reach loopback (as it would a public host), the image is fetched and used.
        monkeypatch.setattr("sorakit.gateway.references.IMAGE_POLICY", LOOPBACK)
        for param in ("input_reference", "last_frame"):
            answer = bob.post("/v1/videos", json={**body, param: remote})
            assert answer.status_code == 200, answer.text
            wait_for(bob, answer.json()["id"], "completed")
        listed = bob.post(
            "/v1/videos", json={**body, "reference_images": [remote, {"image_url": data_url(RED)}]}
        )
        assert listed.status_code == 200, listed.text
    first, last, listed_request = fake.requests
    assert first.reference is not None and first.reference.width == 1280
    assert last.last_frame is not None and last.reference is None
    assert len(listed_request.reference_images) == 2


def test_uploads_and_data_urls_still_work(settings: Settings) -> None:
    fake = FakeProvider(steps=1)
    with tenants(settings, fake) as (_, bob):
        uploaded = bob.post(
            "/v1/videos",
            data={"prompt": "uploaded", "model": "frames-1"},
            files=[("input_reference", ("red.png", RED, "image/png"))],
        )
        inline = bob.post(
            "/v1/videos",
            json={
                "prompt": "inline",
                "model": "frames-1",
                "input_reference": {"image_url": data_url(RED)},
            },
        )
        for answer in (uploaded, inline):
            assert answer.status_code == 200, answer.text
            wait_for(bob, answer.json()["id"], "completed")
        broken = bob.post(
            "/v1/videos",
            json={
                "prompt": "broken",
                "model": "frames-1",
                "input_reference": {"image_url": "data:image/png;base64,@@"},
            },
        )
        assert broken.status_code == 400
        assert broken.json()["error"]["param"] == "input_reference.image_url"
    assert all(request.reference is not None for request in fake.requests)
