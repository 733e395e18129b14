"""Old Sora apps, unchanged, on a `sorakit serve` whose `sora-2` alias routes to each live provider.

Each rig builds one provider against its fake (on a clock that runs `speed` fake seconds per
real second) and tells the provider to expect a render that short, so the engine polls quickly.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import av
import httpx
import openai
import pytest
import uvicorn
from openai.types import Video
from pydantic import SecretStr

from sorakit.providers.base import Provider, RemoteJob, SubmitRequest
from sorakit.providers.google import GeminiProvider, VertexVeoProvider
from sorakit.settings import get_settings
from tests.conftest import ThreadedServer, make_mp4
from tests.providers.fal_fake import QUEUE, FakeFalQueue, QuickFal
from tests.providers.google_fake import FakeGoogle
from tests.providers.runway_fake import BASE_URL, FakeRunwayAPI
from tests.providers.test_runway import QuickRunway

Serve = Callable[..., AbstractContextManager[str]]


@dataclass
class Rig:
    """One provider on its fake, and what the settings need to call it configured."""

    name: str
    provider: Provider
    credential: dict[str, Any]
    created_models: Callable[[], list[str]]
    """The model of every create the fake received."""


class RunningGoogle(FakeGoogle):
    """The Google fake on a clock that runs by itself: `speed` fake seconds per real second."""

    speed = 1.0

    @property
    def now(self) -> float:
        return self._base + (time.monotonic() - self._tick) * self.speed

    @now.setter
    def now(self, value: float) -> None:
        self._base, self._tick = value, time.monotonic()

    def clock(self) -> float:
        return self.now


class _Scaled:
    """Expected render times divided by the fake clock's speed (real seconds for the engine)."""

    speed: float

    def expected_render_seconds(self, request: SubmitRequest) -> float | None:
        expected = super().expected_render_seconds(request)  # type: ignore[misc]
        return None if expected is None else expected / self.speed

    async def retrieve(self, remote_id: str) -> RemoteJob:
        job: RemoteJob = await super().retrieve(remote_id)  # type: ignore[misc]
        if job.expected_seconds is None:
            return job
        return replace(job, expected_seconds=job.expected_seconds / self.speed)


class QuickGemini(_Scaled, GeminiProvider):
    pass


class QuickVertex(_Scaled, VertexVeoProvider):
    pass


@contextlib.contextmanager
def google_server(fake: FakeGoogle) -> Iterator[str]:
    config = uvicorn.Config(fake.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    with ThreadedServer(config).running() as url:
        yield url


def _google_models(fake: FakeGoogle) -> list[str]:
    """The model of each Gemini create (its body) or Vertex create (its path)."""
    models = []
    for method, path, body in fake.requests:
        if method != "POST":
            continue
        if path.endswith(":predictLongRunning"):
            models.append(path.rsplit("/", 1)[-1].split(":")[0])
        elif path.endswith("/interactions"):
            models.append(json.loads(body)["model"])
    return models


@contextlib.contextmanager
def runway_rig(tmp_path: Path) -> Iterator[Rig]:
    fake = FakeRunwayAPI(workdir=tmp_path / "fake")
    fake.speed, fake.queue_seconds, fake.render_seconds = 40.0, 2.0, 8.0
    provider = QuickRunway(
        api_secret=fake.api_secret, base_url=BASE_URL, transport=fake.transport()
    )
    yield Rig(
        "runway",
        provider,
        {"runway_api_secret": SecretStr(fake.api_secret)},
        lambda: [r.body["model"] for r in fake.requests if r.method == "POST"],
    )


@contextlib.contextmanager
def fal_rig(tmp_path: Path) -> Iterator[Rig]:
    fake = FakeFalQueue(make_mp4(seconds=1.0, size=(720, 1280)))
    fake.speed, fake.queue_seconds, fake.render_seconds = 40.0, 2.0, 8.0
    provider = QuickFal(key=fake.key, queue_url=QUEUE, transport=fake.transport())
    yield Rig(
        "fal",
        provider,
        {"fal_key": SecretStr(fake.key)},
        lambda: [r.url.path.strip("/") for r in fake.calls("submit")],
    )


@contextlib.contextmanager
def gemini_rig(tmp_path: Path) -> Iterator[Rig]:
    # The fake takes the catalog's 570 s for a 10 s 720p Omni clip, in 0.5 s of real time.
    fake = RunningGoogle(tmp_path / "fake", queue_seconds=30.0, render_seconds=540.0)
    fake.speed = 1140.0
    (tmp_path / "fake").mkdir()
    with google_server(fake) as url:
        provider = QuickGemini(api_key=fake.api_key, base_url=url, clock=fake.clock)
        provider.speed = fake.speed
        yield Rig(
            "gemini",
            provider,
            {"gemini_api_key": SecretStr(fake.api_key)},
            lambda: _google_models(fake),
        )


@contextlib.contextmanager
def vertex_rig(tmp_path: Path) -> Iterator[Rig]:
    # The catalog's 191 s for a 4 s 1080p Veo clip, in 0.5 s of real time.
    fake = RunningGoogle(tmp_path / "fake", queue_seconds=5.0, render_seconds=186.0)
    fake.speed = 382.0
    (tmp_path / "fake").mkdir()
    with google_server(fake) as url:
        provider = QuickVertex(
            project=fake.project,
            access_token=fake.access_token,
            base_url=url,
            clock=fake.clock,
        )
        provider.speed = fake.speed
        yield Rig(
            "vertex",
            provider,
            {"vertex_project": fake.project, "vertex_access_token": SecretStr(fake.access_token)},
            lambda: _google_models(fake),
        )


@dataclass(frozen=True)
class Case:
    """What an old app sends on `sora-2`, and what it gets back from the routed model."""

    rig: Callable[[Path], AbstractContextManager[Rig]]
    target: str
    created_model: str
    """How the fake names the model it was asked for."""
    sent: dict[str, str]
    changes: list[str]
    seconds: str
    size: str


CASES = {
    "runway": Case(
        runway_rig,
        "runway/veo3.1_fast",
        "veo3.1_fast",
        {"seconds": "12"},
        ["seconds 12 -> 8 (runway/veo3.1_fast allows '4', '6', or '8')"],
        "8",
        "720x1280",
    ),
    "fal": Case(
        fal_rig,
        "fal/veo-3.1",
        "fal-ai/veo3.1",
        {"seconds": "12"},
        ["seconds 12 -> 8 (fal/veo-3.1 allows '4', '6', or '8')"],
        "8",
        "720x1280",
    ),
    "gemini": Case(
        gemini_rig,
        "gemini-omni-1.2-flash",
        "gemini-omni-1.2-flash",
        {"seconds": "12"},
        [
            "seconds 12 -> 10 (gemini-omni-1.2-flash allows "
            "'3', '4', '5', '6', '7', '8', '9', or '10')"
        ],
        "10",
        "720x1280",
    ),
    "vertex": Case(
        vertex_rig,
        "veo-3.1-generate-001",
        "veo-3.1-generate-001",
        {"seconds": "4", "size": "1792x1024"},
        [
            "size 1792x1024 -> 1920x1080 (veo-3.1-generate-001 allows 1280x720, 720x1280, "
            "1920x1080, 1080x1920, 3840x2160, 2160x3840)"
        ],
        "4",
        "1920x1080",
    ),
}


def _size_of(data: bytes) -> tuple[int, int]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        return stream.width, stream.height


@contextlib.contextmanager
def aliased(case: Case, tmp_path: Path, serve: Serve) -> Iterator[tuple[str, openai.OpenAI, Rig]]:
    """A server whose `sora-2` routes to the case's target, and an old app's SDK client on it."""
    with case.rig(tmp_path) as rig:
        settings = get_settings(
            home=tmp_path / "home", aliases={"sora-2": case.target}, **rig.credential
        )
        with (
            serve(settings, providers={rig.name: rig.provider}) as url,
            openai.OpenAI(base_url=f"{url}/v1", api_key="old-app-key") as sdk,
        ):
            yield url, sdk, rig


@pytest.mark.parametrize("name", list(CASES))
def test_sora_2_routed_to_each_provider(name: str, tmp_path: Path, serve: Serve) -> None:
    case = CASES[name]
    with aliased(case, tmp_path, serve) as (url, sdk, rig):
        created = httpx.post(f"{url}/v1/videos", json={"prompt": "a cat", **case.sent})
        assert created.status_code == 200, created.text
        assert json.loads(created.headers["x-sorakit-changes"]) == [
            f"model sora-2 -> {case.target} (alias)",
            *case.changes,
        ]
        video = sdk.videos.poll(created.json()["id"])
        assert (video.status, video.model, video.seconds, video.size) == (
            "completed",
            "sora-2",
            case.seconds,
            case.size,
        )
        data = sdk.videos.download_content(video.id).read()
    width, height = (int(v) for v in case.size.split("x"))
    assert _size_of(data) == (width, height)
    assert rig.created_models() == [case.created_model]


def _extend(sdk: openai.OpenAI, video_id: str, prompt: str) -> Video:
    """`videos.extend` cannot send `video: {id}` (its file extraction); JSON through `post`."""
    body = {"prompt": prompt, "seconds": "4", "video": {"id": video_id}}
    return sdk.post("/videos/extensions", cast_to=Video, body=body)


def test_remix_and_extend_through_a_gemini_omni_alias(tmp_path: Path, serve: Serve) -> None:
    with aliased(CASES["gemini"], tmp_path, serve) as (_, sdk, rig):
        source = sdk.videos.create_and_poll(prompt="a cat", seconds="4")
        remix = sdk.videos.poll(sdk.videos.remix(source.id, prompt="now in winter").id)
        extend = sdk.videos.poll(_extend(sdk, source.id, "keep going").id)
        data = sdk.videos.download_content(extend.id).read()
    assert (source.status, remix.status, extend.status) == ("completed",) * 3
    assert (remix.model, remix.remixed_from_video_id, remix.seconds) == ("sora-2", source.id, "4")
    assert (extend.model, extend.seconds, extend.size) == ("sora-2", "8", "720x1280")
    assert _size_of(data) == (720, 1280)
    assert rig.created_models() == ["gemini-omni-1.2-flash"] * 3


def test_a_veo_alias_extends_but_refuses_a_remix(tmp_path: Path, serve: Serve) -> None:
    with aliased(CASES["vertex"], tmp_path, serve) as (_, sdk, rig):
        source = sdk.videos.create_and_poll(prompt="a cat", seconds="4")
        extend = sdk.videos.poll(_extend(sdk, source.id, "and then").id)
        with pytest.raises(openai.BadRequestError) as refused:
            sdk.videos.remix(source.id, prompt="now in winter")
    assert (extend.status, extend.model, extend.seconds) == ("completed", "sora-2", "8")
    assert refused.value.param == "model"
    assert "veo-3.1-generate-001 does not support remixes" in refused.value.message
    assert rig.created_models() == ["veo-3.1-generate-001"] * 2


@pytest.mark.parametrize("name", ["fal", "runway"])
def test_a_remix_the_target_lacks_is_a_clear_400(name: str, tmp_path: Path, serve: Serve) -> None:
    case = CASES[name]
    with aliased(case, tmp_path, serve) as (_, sdk, rig):
        source = sdk.videos.create_and_poll(prompt="a cat", seconds="4")
        with pytest.raises(openai.BadRequestError) as refused:
            sdk.videos.remix(source.id, prompt="now in winter")
    assert source.status == "completed"
    assert f"{case.target} does not support remixes" in refused.value.message
    assert rig.created_models() == [case.created_model]
