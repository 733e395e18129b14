"""The chat-completions facade through the official `openai` SDK against a real `sorakit serve`."""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import re
import time
from collections.abc import Iterator

import av
import httpx
import openai
import pytest
import uvicorn
from PIL import Image
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sorakit.gateway import references
from sorakit.gateway.links import LinkSigner
from sorakit.security.ssrf import Policy
from sorakit.server import create_app
from sorakit.server.routes import chat
from sorakit.server.routes.videos import data_url
from sorakit.settings import Settings
from tests.conftest import ThreadedServer
from tests.gateway.test_tenants import client, finished, make_key
from tests.pipelines.chat_fake import API_KEY, FakeChat, serve_chat

LINK = re.compile(r"\]\((http://[^)\s]+)\)")
VIDEO_ID = re.compile(r"video_[0-9a-f]{32}")


@contextlib.contextmanager
def gateway(settings: Settings) -> Iterator[str]:
    """`sorakit serve`'s app on loopback."""
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    with ThreadedServer(config).running() as url:
        yield f"{url}/v1"


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chat, "POLL_SECONDS", 0.05)


def png(color: tuple[int, int, int] = (200, 40, 40), size: tuple[int, int] = (320, 180)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def mp4_size(data: bytes) -> tuple[int, int]:
    """The width and height of a real MP4's video stream."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        return stream.width, stream.height


def ask(sdk: openai.OpenAI, model: str, content: object) -> str:
    answer = sdk.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": content}],  # type: ignore[misc,list-item]
    )
    assert answer.object == "chat.completion" and answer.choices[0].finish_reason == "stop"
    text = answer.choices[0].message.content
    assert text is not None
    return text


def video_of(text: str) -> str:
    match = VIDEO_ID.search(text)
    assert match, text
    return match.group(0)


def test_a_chat_answer_links_a_signed_download_that_needs_no_key(settings: Settings) -> None:
    token = make_key(settings, "alice")
    with gateway(settings) as url:
        sdk = client(url, token)
        text = ask(sdk, "sora2-landscape-10s", "a red kite over the dunes {golden}")
        video_id = video_of(text)
        # 10 s is not a sora-2 length: snapped up to 12 s and said so; landscape is 1280x720.
        assert "12 s: sora-2 makes 4, 8, 12, 16 or 20 s." in text and "golden" in text
        video = sdk.videos.retrieve(video_id)
        assert (video.model, video.seconds, video.size) == ("sora-2", "12", "1280x720")
        assert "Golden hour light" in (video.prompt or "")
        (link,) = LINK.findall(text)
        assert f'<video src="{link.replace("&", "&amp;")}" controls></video>' in text

        downloaded = httpx.get(link)  # no Authorization header at all
        assert downloaded.status_code == 200
        assert downloaded.headers["content-type"] == "video/mp4"
        assert downloaded.content == sdk.videos.download_content(video_id).read()
        width, height = mp4_size(downloaded.content)
        assert width > height

        signer = LinkSigner.from_settings(settings)
        base = link.split("/v1/links/")[0]
        expired = httpx.get(base + signer.path(video_id, now=time.time() - 2 * signer.ttl))
        assert expired.status_code == 403 and "expired" in expired.json()["error"]["message"]
        forged = httpx.get(link[:-4] + ("0000" if not link.endswith("0000") else "1111"))
        assert forged.status_code == 403 and "not valid" in forged.json()["error"]["message"]
        other = httpx.get(link.replace(video_id, "video_" + "0" * 32))
        assert other.status_code == 403  # a signature is bound to its video


def test_streamed_by_the_sdk_with_progress_then_the_link(settings: Settings) -> None:
    slow = settings.model_copy(update={"simulator_render_seconds": 1.5})
    with gateway(slow) as url:
        sdk = client(url, "anything")
        chunks = list(
            sdk.chat.completions.create(
                model="sora2-portrait-15s",
                messages=[{"role": "user", "content": "a lighthouse in a storm"}],
                stream=True,
            )
        )
        assert {c.object for c in chunks} == {"chat.completion.chunk"}
        assert len({c.id for c in chunks}) == 1
        assert chunks[0].choices[0].delta.role == "assistant"
        reasons = [c.choices[0].finish_reason for c in chunks]
        assert reasons[-1] == "stop" and reasons.count("stop") == 1
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        percents = [int(p) for p in re.findall(r"Rendering… (\d+)%", text)]
        assert percents and percents == sorted(percents)
        assert "16 s: sora-2 makes 4, 8, 12, 16 or 20 s." in text
        video_id = video_of(text)
        assert sdk.videos.retrieve(video_id).size == "720x1280"
        (link,) = LINK.findall(text)
        download = httpx.get(link)
        assert download.status_code == 200
        width, height = mp4_size(download.content)
        assert height > width


def test_a_failed_job_ends_the_stream_with_an_error_event(settings: Settings) -> None:
    with gateway(settings) as url:
        sdk = client(url, "anything")
        stream = sdk.chat.completions.create(
            model="sora-2",
            messages=[{"role": "user", "content": "a fight [[moderation_blocked]]"}],
            stream=True,
        )
        seen: list[object] = []
        with pytest.raises(openai.APIError) as failed:
            seen.extend(stream)
        assert seen and "moderation" in str(failed.value).lower()
        # The raw stream still ends cleanly with [DONE].
        raw = httpx.post(
            f"{url}/chat/completions",
            json={
                "model": "sora-2",
                "stream": True,
                "messages": [{"role": "user", "content": "again [[moderation_blocked]]"}],
            },
            timeout=30,
        )
        events = [line[6:] for line in raw.text.splitlines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]" and json.loads(events[-2])["error"]["code"]


def test_a_disconnected_stream_leaves_the_job_running(settings: Settings) -> None:
    slow = settings.model_copy(update={"simulator_render_seconds": 1.0})
    with gateway(slow) as url:
        body = {
            "model": "sora-2",
            "stream": True,
            "messages": [{"role": "user", "content": "a paper boat"}],
        }
        with httpx.stream("POST", f"{url}/chat/completions", json=body, timeout=30) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            text = ""
            for line in response.iter_lines():
                text += line
                if VIDEO_ID.search(text):
                    break
        video_id = video_of(text)  # the client went away here
        assert finished(client(url, "anything"), video_id) == "completed"


def test_a_request_that_waits_too_long_lets_the_job_go_on(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chat, "WAIT_SECONDS", 0.2)
    slow = settings.model_copy(update={"simulator_render_seconds": 1.5})
    with gateway(slow) as url:
        sdk = client(url, "anything")
        with pytest.raises(openai.InternalServerError) as waited:
            ask(sdk, "sora-2", "a slow sunrise")
        assert waited.value.status_code == 504
        video_id = video_of(str(waited.value))
        streamed = sdk.chat.completions.create(
            model="sora-2", messages=[{"role": "user", "content": "another"}], stream=True
        )
        with pytest.raises(openai.APIError, match="still rendering"):
            list(streamed)
        assert finished(sdk, video_id) == "completed"


def test_image_url_parts_become_the_first_frame(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = png()

    async def serve_png(_: Request) -> Response:
        return Response(image, media_type="image/png")

    images = Starlette(routes=[Route("/cat.png", serve_png)])
    config = uvicorn.Config(images, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    with gateway(settings) as url, ThreadedServer(config).running() as image_host:
        sdk = client(url, "anything")
        parts = [
            {"type": "text", "text": "this cat starts to dance"},
            {"type": "image_url", "image_url": {"url": data_url(image, "image/png")}},
        ]
        video_id = video_of(ask(sdk, "sora2-landscape-10s", parts))
        assert sdk.videos.retrieve(video_id).status == "completed"
        assert _has_reference(settings, video_id)

        remote = [parts[0], {"type": "image_url", "image_url": {"url": f"{image_host}/cat.png"}}]
        # The SSRF guard refuses a loopback address, before any job is made.
        with pytest.raises(openai.BadRequestError) as refused:
            ask(sdk, "sora-2", remote)
        assert "loopback" in str(refused.value).lower()
        # Allowed to reach loopback (as a public host would be), the image is fetched and used.
        monkeypatch.setattr(
            references, "IMAGE_POLICY", Policy(allow=(ipaddress.ip_network("127.0.0.0/8"),))
        )
        fetched_id = video_of(ask(sdk, "sora2-landscape-10s", remote))
        assert _has_reference(settings, fetched_id)

        for bad in ({"url": "file:///etc/passwd"}, {"url": "data:image/png;base64,@@"}):
            with pytest.raises(openai.BadRequestError):
                ask(sdk, "sora-2", [parts[0], {"type": "image_url", "image_url": bad}])
        assert len(sdk.videos.list().data) == 2


def _has_reference(settings: Settings, video_id: str) -> bool:
    """The fitted first frame is archived beside the job: a 1280x720 image of the red PNG."""
    (path,) = (settings.assets_dir / video_id).glob("reference.*")
    with Image.open(path) as frame:
        return frame.size == (1280, 720) and frame.convert("RGB").getpixel((640, 360)) == (
            200,
            40,
            40,
        )


def test_a_video_id_in_the_text_remixes_it_for_its_owner_only(settings: Settings) -> None:
    alice_key, bob_key = make_key(settings, "alice"), make_key(settings, "bob")
    with gateway(settings) as url:
        alice, bob = client(url, alice_key), client(url, bob_key)
        source = video_of(ask(alice, "sora-2", "a quiet street by day"))
        text = ask(alice, "sora-2", f"make {source} a rainy night")
        remix = video_of(text.replace(source, ""))
        assert f"remix of {source}" in text
        video = alice.videos.retrieve(remix)
        assert video.remixed_from_video_id == source and video.status == "completed"
        assert video.prompt == "make a rainy night"

        with pytest.raises(openai.NotFoundError):
            ask(bob, "sora-2", f"make {source} mine")
        with pytest.raises(openai.NotFoundError):
            bob.chat.completions.create(
                model="sora-2",
                messages=[{"role": "user", "content": f"{source} at dawn"}],
                stream=True,
            )
        assert [v.id for v in bob.videos.list()] == []


def test_prompt_enhance_models_answer_with_a_prompt(settings: Settings) -> None:
    fake = FakeChat()
    with serve_chat(fake) as chat_url:
        enhanced = settings.model_copy(
            update={"chat_api_key": SecretStr(API_KEY), "chat_base_url": chat_url}
        )
        with gateway(enhanced) as url:
            sdk = client(url, "anything")
            text = ask(sdk, "prompt-enhance-director", "a fox in the snow {anime}")
            assert text.startswith("Cinematic rewrite: a fox in the snow")
            assert "Anime style" in text  # the style tag was applied before enhancing
            assert fake.count == 1
            assert "Style: director" in fake.requests[0]["messages"][0]["content"]
            chunks = list(
                sdk.chat.completions.create(
                    model="prompt-enhance-clean",
                    messages=[{"role": "user", "content": "fox snow"}],
                    stream=True,
                    stream_options={"include_usage": True},
                )
            )
            *answer, usage = chunks
            assert "".join(c.choices[0].delta.content or "" for c in answer).startswith(
                "Cinematic rewrite: fox snow"
            )
            assert answer[-1].choices[0].finish_reason == "stop"
            assert usage.choices == [] and usage.usage and usage.usage.total_tokens == 0
            assert sdk.videos.list().data == []  # no video was made
    with gateway(settings) as url:  # no chat key: the prompt comes back as it was, and why
        raw = client(url, "anything").chat.completions.with_raw_response.create(
            model="prompt-enhance-pixar", messages=[{"role": "user", "content": "a fox"}]
        )
        text = raw.parse().choices[0].message.content or ""
        assert text.startswith("a fox\n\nThe prompt was not rewritten:")
        assert "no chat API key" in text
        assert "no chat API key" in raw.headers["x-sorakit-enhancement"]


def test_models_list_follows_the_keys_allowlist(settings: Settings) -> None:
    limited = make_key(settings, "limited", models=["sora-2"])
    everything = make_key(settings, "everything")
    with gateway(settings) as url:
        mine = {m.id for m in client(url, limited).models.list()}
        assert {"sora-2", "sora2-landscape-10s", "sora2-portrait-25s"} <= mine
        assert {"prompt-enhance-director", "prompt-enhance-pixar"} <= mine
        assert not {m for m in mine if m.startswith(("sora-2-pro", "sora2pro"))}
        assert client(url, limited).models.retrieve("sora2-landscape-15s").id == (
            "sora2-landscape-15s"
        )
        with pytest.raises(openai.NotFoundError):
            client(url, limited).models.retrieve("sora-2-pro")
        with pytest.raises(openai.PermissionDeniedError):
            ask(client(url, limited), "sora2pro-hd-landscape-10s", "a castle")
        everyone = {m.id for m in client(url, everything).models.list()}
        assert {"sora-2-pro", "sora2pro-landscape-25s", "sora2pro-hd-portrait-15s"} <= everyone
        assert mine < everyone


def test_refusals_come_in_the_openai_envelope_before_streaming(settings: Settings) -> None:
    with gateway(settings) as url:
        sdk = client(url, "anything")
        with pytest.raises(openai.NotFoundError) as unknown:
            sdk.chat.completions.create(
                model="sora9-landscape",
                messages=[{"role": "user", "content": "x"}],
                stream=True,
            )
        assert unknown.value.code == "model_not_found"
        with pytest.raises(openai.BadRequestError) as style:
            ask(sdk, "sora-2", "a cat {notastyle}")
        assert "Unknown style" in str(style.value)
        with pytest.raises(openai.BadRequestError):
            sdk.chat.completions.create(
                model="sora-2", messages=[{"role": "system", "content": "no user"}]
            )
        assert sdk.videos.list().data == []


async def test_a_stream_that_breaks_after_its_first_byte_still_ends_as_the_sdks_expect() -> None:
    from sorakit.server.routes import chat as chat_route

    class Broken:
        id, kind = "video_x", "video"

        async def poll(self) -> tuple[bool, dict[str, str]]:
            raise TimeoutError("the ledger's pool is exhausted")

        async def outcome(self) -> None:
            raise AssertionError("never reached")

        def too_long(self, waited: float) -> Exception:
            raise AssertionError("never reached")

    completion = chat_route.Completion.new("sora-2")
    sent = [
        chunk
        async for chunk in chat_route._stream(
            Broken(), completion, "Rendering…", lambda _id, _kind: ""
        )  # type: ignore[arg-type]
    ]
    assert sent[-1] == chat_route.DONE
    error = json.loads(sent[-2].removeprefix("data: "))["error"]
    assert error["type"] == "server_error" and "lost track" in error["message"]
