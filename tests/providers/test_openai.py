"""The `openai` provider against a faithful fake of the Videos API (and a real socket or two)."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import socket
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from sorakit.errors import (
    ConfigurationError,
    ContentDownloadError,
    InvalidRequestError,
    InvalidStateError,
    NotFoundError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    SorakitError,
    TransientProviderError,
)
from sorakit.providers.base import ReferenceImage, SourceVideo, SubmitRequest
from sorakit.providers.openai import OpenAIProvider, parse_retry_after, translate_error
from sorakit.settings import Settings
from tests.providers.openai_fake import INT_SECONDS_MESSAGE, FakeVideosAPI, unflatten

BASE_URL = "http://videos.test/v1"
PNG = b"\x89PNG\r\n\x1a\nnot-really-a-png"
REFERENCE = ReferenceImage(PNG, "image/png", 1280, 720)


@pytest.fixture
def fake() -> FakeVideosAPI:
    return FakeVideosAPI()


@pytest.fixture
async def provider(fake: FakeVideosAPI) -> AsyncIterator[OpenAIProvider]:
    p = OpenAIProvider(base_url=BASE_URL, api_key=fake.api_key, transport=fake.transport())
    yield p
    await p.aclose()


def generate(prompt: str = "a calico cat playing a piano", **overrides: object) -> SubmitRequest:
    fields: dict[str, object] = {
        "kind": "generate",
        "model": "sora-2",
        "prompt": prompt,
        "seconds": 8,
        "size": "1280x720",
    }
    fields.update(overrides)
    fields.setdefault("idempotency_key", f"key-{fields['kind']}-{prompt}")
    return SubmitRequest(**fields)  # type: ignore[arg-type]


async def completed(provider: OpenAIProvider, fake: FakeVideosAPI, request: SubmitRequest) -> str:
    job = await provider.submit(request)
    fake.advance(60)
    return job.id


# -- submit: endpoints and body shapes ------------------------------------------------------


async def test_generate_sends_json_with_string_seconds_and_headers(
    provider: OpenAIProvider, fake: FakeVideosAPI
) -> None:
    job = await provider.submit(generate(idempotency_key="key-123"))
    call = fake.calls("POST")[-1]
    assert call.path == "/v1/videos"
    assert call.encoding == "json"
    assert call.raw_json == {
        "prompt": "a calico cat playing a piano",
        "model": "sora-2",
        "seconds": "8",
        "size": "1280x720",
    }
    assert call.headers["idempotency-key"] == "key-123"
    assert call.headers["authorization"] == f"Bearer {fake.api_key}"
    assert call.headers["user-agent"].startswith("sorakit/")
    assert job.status == "queued" and job.seconds == "8" and job.size == "1280x720"
    assert job.poll_after == 1.5
    await provider.submit(generate("with a friend", characters=("char_a",)))
    with_character = fake.calls("POST")[-1]
    assert with_character.encoding == "json"
    assert with_character.raw_json["characters"] == [{"id": "char_a"}]


async def test_generate_with_reference_and_characters_goes_multipart(
    provider: OpenAIProvider, fake: FakeVideosAPI
) -> None:
    request = generate(reference=REFERENCE, characters=("char_a", "char_b"))
    await provider.submit(request)
    (call,) = fake.calls("POST")
    assert call.encoding == "multipart"
    assert ("characters[][id]", "char_a") in call.form
    assert ("characters[][id]", "char_b") in call.form
    assert ("seconds", "8") in call.form
    assert call.body == {
        "prompt": request.prompt,
        "model": "sora-2",
        "seconds": "8",
        "size": "1280x720",
        "characters": [{"id": "char_a"}, {"id": "char_b"}],
    }
    part = call.files["input_reference"]
    assert (part.filename, part.content_type, part.data) == ("reference.png", "image/png", PNG)
    assert call.headers["idempotency-key"] == f"key-generate-{request.prompt}"


async def test_remix_posts_the_prompt_as_json(
    provider: OpenAIProvider, fake: FakeVideosAPI
) -> None:
    source = await completed(provider, fake, generate())
    job = await provider.submit(
        generate(
            "now at night", kind="remix", seconds=8, idempotency_key="idem-2", source_id=source
        )
    )
    call = fake.calls("POST")[-1]
    assert call.path == f"/v1/videos/{source}/remix"
    assert (call.encoding, call.raw_json) == ("json", {"prompt": "now at night"})
    assert call.headers["idempotency-key"] == "idem-2"
    assert job.remixed_from == source and job.seconds == "8"


async def test_extend_by_id_sends_video_object_and_string_seconds(
    provider: OpenAIProvider, fake: FakeVideosAPI
) -> None:
    source = await completed(provider, fake, generate())
    job = await provider.submit(generate("and on", kind="extend", seconds=4, source_id=source))
    call = fake.calls("POST")[-1]
    assert call.path == "/v1/videos/extensions"
    assert call.raw_json == {"prompt": "and on", "seconds": "4", "video": {"id": source}}
    assert job.seconds == "12"  # the stitched total


async def test_extend_an_uploaded_clip_goes_multipart(
    provider: OpenAIProvider, fake: FakeVideosAPI
) -> None:
    clip = SourceVideo(b"\x00\x00\x00\x18ftypmp42", filename="mine.mp4")
    await provider.submit(generate("and on", kind="extend", seconds=4, source_video=clip))
    call = fake.calls("POST")[-1]
    assert call.encoding == "multipart"
    assert call.body == {"prompt": "and on", "seconds": "4"}
    assert call.files["video"].filename == "mine.mp4"
    assert call.files["video"].content_type == "video/mp4"
    assert call.files["video"].data == clip.data


async def test_edit_by_id_and_by_upload(provider: OpenAIProvider, fake: FakeVideosAPI) -> None:
    source = await completed(provider, fake, generate())
    await provider.submit(generate("make it blue", kind="edit", seconds=8, source_id=source))
    by_id = fake.calls("POST")[-1]
    assert by_id.path == "/v1/videos/edits"
    assert by_id.raw_json == {"prompt": "make it blue", "video": {"id": source}}
    clip = SourceVideo(b"clip-bytes")
    await provider.submit(
        generate(
            "make it red",
            kind="edit",
            model="sora-2-pro",
            seconds=4,
            source_video=clip,
        )
    )
    upload = fake.calls("POST")[-1]
    assert upload.encoding == "multipart"
    assert upload.body == {"prompt": "make it red", "model": "sora-2-pro"}
    assert upload.files["video"].data == b"clip-bytes"


@pytest.mark.parametrize(
    "request_",
    [
        generate(kind="remix"),
        generate(kind="extend"),
        generate(kind="edit"),
        generate(kind="remix", source_id="v", characters=("c",)),
        generate(kind="extend", source_id="v", reference=REFERENCE),
        generate(kind="remix", source_id=""),
    ],
)
async def test_impossible_requests_are_refused_before_sending(
    provider: OpenAIProvider, fake: FakeVideosAPI, request_: SubmitRequest
) -> None:
    with pytest.raises(InvalidRequestError):
        await provider.submit(request_)
    assert fake.requests == []


async def test_the_fake_refuses_integer_seconds_with_the_real_message(fake: FakeVideosAPI) -> None:
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    async with httpx.AsyncClient(transport=fake.transport(), base_url=BASE_URL) as client:
        response = await client.post("/videos", json={"prompt": "p", "seconds": 8}, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == INT_SECONDS_MESSAGE
    error = translate_error(response)
    assert isinstance(error, ProviderBadRequestError)
    assert (error.message, error.status_code, error.provider) == (
        INT_SECONDS_MESSAGE,
        400,
        "openai",
    )


async def test_a_resent_create_with_the_same_key_is_the_same_job(
    provider: OpenAIProvider, fake: FakeVideosAPI
) -> None:
    first = await provider.submit(generate())
    again = await provider.submit(generate())
    assert first.id == again.id and len(fake.videos) == 1


def test_unflatten_reads_bracket_keys() -> None:
    pairs = [("input_reference[image_url]", "https://x/y.png"), ("video[id]", "v1")]
    pairs += [("characters[][id]", "a"), ("characters[][id]", "b"), ("seconds", "8")]
    assert unflatten(pairs) == {
        "input_reference": {"image_url": "https://x/y.png"},
        "video": {"id": "v1"},
        "characters": [{"id": "a"}, {"id": "b"}],
        "seconds": "8",
    }


# -- retrieve --------------------------------------------------------------------------------


async def test_retrieve_follows_the_lifecycle(
    provider: OpenAIProvider, fake: FakeVideosAPI
) -> None:
    created = await provider.submit(generate())
    queued = await provider.retrieve(created.id)
    assert (queued.status, queued.progress, queued.finished) == ("queued", 0, False)
    fake.advance(7)
    running = await provider.retrieve(created.id)
    assert (running.status, running.progress) == ("in_progress", 50)
    fake.advance(10)
    done = await provider.retrieve(created.id)
    assert (done.status, done.progress, done.finished) == ("completed", 100, True)
    assert done.created_at == float(int(fake.videos[created.id].created_at))
    assert (done.seconds, done.size, done.poll_after) == ("8", "1280x720", 1.5)
    assert (done.error_code, done.error_message, done.remixed_from) == (None, None, None)
    assert fake.calls("GET")[-1].path == f"/v1/videos/{created.id}"


async def test_retrieve_maps_a_failed_job(provider: OpenAIProvider, fake: FakeVideosAPI) -> None:
    video = fake.add_video(
        fail_with=("moderation_blocked", "Your request was blocked by our moderation system.")
    )
    job = await provider.retrieve(video.id)
    assert job.status == "failed" and job.error_code == "moderation_blocked"
    assert job.error_message == "Your request was blocked by our moderation system."


async def test_a_status_outside_the_contract_reads_as_failed(
    provider: OpenAIProvider, fake: FakeVideosAPI
) -> None:
    video = fake.add_video()
    video.status_override = "cancelled"
    job = await provider.retrieve(video.id)
    assert (job.status, job.error_code) == ("failed", "cancelled")


@pytest.mark.parametrize(("header", "expected"), [(None, None), ("250", 0.25), ("soon", None)])
async def test_poll_after_comes_from_the_header(
    fake: FakeVideosAPI, header: str | None, expected: float | None
) -> None:
    video = fake.add_video()

    async def handler(request: httpx.Request) -> httpx.Response:
        response = await fake.handle(request)
        if header is None:
            del response.headers["openai-poll-after-ms"]
        else:
            response.headers["openai-poll-after-ms"] = header
        return response

    transport = httpx.MockTransport(handler)
    provider = OpenAIProvider(base_url=BASE_URL, api_key=fake.api_key, transport=transport)
    try:
        assert (await provider.retrieve(video.id)).poll_after == expected
    finally:
        await provider.aclose()


async def test_ids_are_quoted_into_one_path_segment(
    provider: OpenAIProvider, fake: FakeVideosAPI
) -> None:
    with pytest.raises(NotFoundError):
        await provider.retrieve("../characters/x")
    assert fake.requests[-1].raw_path == "/v1/videos/..%2Fcharacters%2Fx"


# -- download --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "media_type"),
    [("video", "video/mp4"), ("thumbnail", "image/webp"), ("spritesheet", "image/jpeg")],
)
async def test_download_streams_each_variant(
    provider: OpenAIProvider, fake: FakeVideosAPI, variant: str, media_type: str
) -> None:
    video_id = await completed(provider, fake, generate())
    async with provider.download(video_id, variant) as download:  # type: ignore[arg-type]
        chunks = [chunk async for chunk in download.chunks]
    expected = fake.content(video_id, variant)
    assert b"".join(chunks) == expected and len(chunks) > 1
    assert download.expected_size == len(expected)
    assert download.media_type == media_type
    call = fake.calls("GET", f"/v1/videos/{video_id}/content")[-1]
    assert call.query == {"variant": variant}
    assert call.headers["accept-encoding"] == "identity"


@pytest.mark.parametrize("error", [True, False])
async def test_a_truncated_download_raises(
    provider: OpenAIProvider, fake: FakeVideosAPI, error: bool
) -> None:
    video_id = await completed(provider, fake, generate())
    fake.truncate_next_download(10_000, error=error)
    received = 0
    with pytest.raises(ContentDownloadError) as caught:
        async with provider.download(video_id) as download:
            async for chunk in download.chunks:
                received += len(chunk)
    assert received <= 10_000
    assert caught.value.provider == "openai" and caught.value.transient


async def test_download_before_completion_or_of_nothing(provider: OpenAIProvider) -> None:
    job = await provider.submit(generate())
    with pytest.raises(InvalidStateError):
        async with provider.download(job.id):
            pass
    with pytest.raises(NotFoundError) as caught:
        async with provider.download("video_missing"):
            pass
    cause = caught.value.__cause__
    assert isinstance(cause, ProviderBadRequestError)
    assert (cause.status_code, cause.provider) == (404, "openai")


async def test_download_errors_from_the_wire(provider: OpenAIProvider, fake: FakeVideosAPI) -> None:
    fake.raise_next(httpx.ConnectError("connection refused"))
    with pytest.raises(ProviderConnectionError):
        async with provider.download("video_x"):
            pass
    fake.fail_next(503, "overloaded", headers={"retry-after": "3"})
    with pytest.raises(ProviderUnavailableError) as caught:
        async with provider.download("video_x"):
            pass
    assert caught.value.retry_after == 3.0


async def test_an_error_body_that_breaks_off() -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b'{"error": {"mess'
        raise httpx.ReadError("connection reset by peer")

    async def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, headers={"retry-after": "1"}, content=broken())

    transport = httpx.MockTransport(handler)
    provider = OpenAIProvider(base_url=BASE_URL, api_key="k", transport=transport)
    try:
        with pytest.raises(ProviderUnavailableError) as caught:
            async with provider.download("video_1"):
                pass
    finally:
        await provider.aclose()
    assert caught.value.retry_after == 1.0 and "HTTP 500" in caught.value.message


async def test_an_error_inside_the_block_passes_through(
    provider: OpenAIProvider, fake: FakeVideosAPI
) -> None:
    video_id = await completed(provider, fake, generate())
    with pytest.raises(KeyError):
        async with provider.download(video_id):
            raise KeyError("the caller's own")


# -- error translation ------------------------------------------------------------------------


HTTP_DATE_IN_20_S = "<an HTTP date 20 s from now>"  # made when the test runs, not at import


@pytest.mark.parametrize(
    ("operation", "status", "headers", "error_type", "retry_after"),
    [
        ("submit", 400, {}, ProviderBadRequestError, None),
        ("submit", 422, {}, ProviderBadRequestError, None),
        ("submit", 404, {}, ProviderBadRequestError, None),
        ("retrieve", 404, {}, NotFoundError, None),
        ("retrieve", 410, {}, NotFoundError, None),
        ("submit", 401, {}, ProviderAuthError, None),
        ("retrieve", 403, {}, ProviderAuthError, None),
        ("retrieve", 409, {}, InvalidStateError, None),
        ("submit", 409, {"retry-after": "2"}, TransientProviderError, 2.0),
        ("submit", 408, {}, TransientProviderError, None),
        ("submit", 429, {}, RateLimitedError, None),
        ("submit", 429, {"retry-after": "7"}, RateLimitedError, 7.0),
        ("retrieve", 429, {"retry-after-ms": "1500", "retry-after": "9"}, RateLimitedError, 1.5),
        ("list", 429, {"retry-after": HTTP_DATE_IN_20_S}, RateLimitedError, 20.0),
        ("submit", 500, {}, ProviderUnavailableError, None),
        ("retrieve", 502, {}, ProviderUnavailableError, None),
        ("list", 503, {"retry-after": "30"}, ProviderUnavailableError, 30.0),
        ("submit", 418, {}, ProviderBadRequestError, None),
    ],
)
async def test_error_answers_are_translated(
    provider: OpenAIProvider,
    fake: FakeVideosAPI,
    operation: str,
    status: int,
    headers: dict[str, str],
    error_type: type[SorakitError],
    retry_after: float | None,
) -> None:
    if headers.get("retry-after") == HTTP_DATE_IN_20_S:
        headers = {"retry-after": email.utils.formatdate(time.time() + 20, usegmt=True)}
    fake.fail_next(status, "the server says no", code="some_code", headers=headers)
    with pytest.raises(SorakitError) as caught:
        if operation == "submit":
            await provider.submit(generate())
        elif operation == "retrieve":
            await provider.retrieve("video_1")
        else:
            await provider.list_videos()
    error = caught.value
    assert type(error) is error_type
    assert error.message == "the server says no"
    detail = error if isinstance(error, ProviderError) else error.__cause__
    assert isinstance(detail, ProviderError)
    assert (detail.provider, detail.status_code, detail.code) == ("openai", status, "some_code")
    if isinstance(error, TransientProviderError):
        assert error.retry_after == pytest.approx(retry_after, abs=1.5)


async def test_a_wrong_key_is_an_auth_error_that_hides_the_key(
    fake: FakeVideosAPI,
) -> None:
    provider = OpenAIProvider(
        base_url=BASE_URL, api_key="sk-wrong-secret", transport=fake.transport()
    )
    with pytest.raises(ProviderAuthError) as caught:
        await provider.retrieve("video_1")
    await provider.aclose()
    assert caught.value.code == "invalid_api_key" and caught.value.status_code == 401
    assert "Incorrect API key provided" in caught.value.message
    assert "sk-wrong-secret" not in caught.value.message


@pytest.mark.parametrize(
    ("raw", "status", "error_type", "needle"),
    [
        (b"<html><h1>502 Bad Gateway</h1></html>", 502, ProviderUnavailableError, "HTTP 502"),
        (b"", 500, ProviderUnavailableError, "HTTP 500"),
        (b'{"detail":"Not Found"}', 404, ProviderBadRequestError, "Not Found"),
        (b'{"error":"quota exceeded"}', 429, RateLimitedError, "quota exceeded"),
    ],
)
async def test_bodies_that_are_not_the_envelope_are_tolerated(
    provider: OpenAIProvider,
    fake: FakeVideosAPI,
    raw: bytes,
    status: int,
    error_type: type[ProviderError],
    needle: str,
) -> None:
    fake.fail_next(status, raw=raw, headers={"content-type": "text/html"})
    with pytest.raises(error_type) as caught:
        await provider.submit(generate())
    assert needle in caught.value.message and caught.value.status_code == status


async def test_a_success_that_is_not_a_video_is_a_provider_error(
    provider: OpenAIProvider, fake: FakeVideosAPI
) -> None:
    fake.fail_next(200, raw=b"<html>hello</html>")
    with pytest.raises(ProviderError) as caught:
        await provider.retrieve("video_1")
    assert type(caught.value) is ProviderError and caught.value.status_code == 200
    fake.fail_next(200, raw=b'{"id": "video_1", "status": "rendering"}')
    with pytest.raises(ProviderError):
        await provider.retrieve("video_1")


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("connection refused"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.ReadTimeout("read timed out"),
        httpx.RemoteProtocolError("server disconnected without sending a response"),
        httpx.ReadError("connection reset by peer"),
        httpx.WriteError("broken pipe"),
        httpx.PoolTimeout("pool timed out"),
    ],
)
@pytest.mark.parametrize("operation", ["submit", "retrieve", "list", "delete", "character"])
async def test_wire_failures_are_connection_errors(
    provider: OpenAIProvider, fake: FakeVideosAPI, exc: Exception, operation: str
) -> None:
    fake.raise_next(exc)
    with pytest.raises(ProviderConnectionError) as caught:
        if operation == "submit":
            await provider.submit(generate())
        elif operation == "retrieve":
            await provider.retrieve("video_1")
        elif operation == "list":
            await provider.list_videos()
        elif operation == "delete":
            await provider.delete("video_1")
        else:
            await provider.retrieve_character("char_1")
    error = caught.value
    assert (error.provider, error.status_code, error.transient) == ("openai", None, True)
    assert "videos.test" in error.message
    assert isinstance(error.__cause__, httpx.HTTPError)


def test_retry_after_parsing() -> None:
    now = 1_000_000.0
    date = email.utils.formatdate(now + 12, usegmt=True)
    assert parse_retry_after(httpx.Headers({"retry-after": date}), now=now) == pytest.approx(12)
    past = email.utils.formatdate(now - 50, usegmt=True)
    assert parse_retry_after(httpx.Headers({"retry-after": past}), now=now) == 0.0
    assert parse_retry_after(httpx.Headers({"retry-after": "1.5"})) == 1.5
    assert parse_retry_after(httpx.Headers({"retry-after": "whenever"})) is None
    assert parse_retry_after(httpx.Headers({"retry-after-ms": "x", "retry-after": "4"})) == 4.0
    assert parse_retry_after(httpx.Headers({})) is None


# -- real sockets on loopback -----------------------------------------------------------------


async def test_a_refused_connection_on_loopback() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = OpenAIProvider(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", timeout=5)
    try:
        with pytest.raises(ProviderConnectionError):
            await provider.retrieve("video_1")
    finally:
        await provider.aclose()


async def test_a_body_cut_short_on_a_real_socket() -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: 100000\r\n\r\n"
            + b"x" * 30_000
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    provider = OpenAIProvider(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", timeout=5)
    try:
        with pytest.raises(ContentDownloadError) as caught:
            async with provider.download("video_1") as download:
                assert download.expected_size == 100_000
                async for _ in download.chunks:
                    pass
        assert isinstance(caught.value.__cause__, httpx.RemoteProtocolError)
    finally:
        await provider.aclose()
        server.close()
        await server.wait_closed()


# -- find: the job a lost create made ----------------------------------------------------------


async def test_find_recovers_a_lost_create_across_pages(
    provider: OpenAIProvider, fake: FakeVideosAPI
) -> None:
    since = fake.now
    for i in range(60):  # older, inside the window, one of them a near miss
        fake.add_video("a calico cat playing a piano", created_at=since - 100 + i, seconds="4")
    request = generate(idempotency_key="lost-1")
    fake.advance(1)
    fake.lose_next_response()
    with pytest.raises(ProviderConnectionError):
        await provider.submit(request)
    (lost_id,) = [v.id for v in fake.videos.values() if v.seconds == "8"]
    for i in range(150):  # other people's jobs made after it push it to page 2
        fake.add_video(f"decoy {i}", created_at=since + 2 + i, completed=False)
    fake.add_video("a calico cat playing a piano", size="720x1280", created_at=since + 5)
    fake.add_video("a calico cat playing a piano", model="sora-2-pro", created_at=since + 6)

    found = await provider.find(request, since=since)

    assert found is not None and found.id == lost_id
    assert (found.status, found.seconds, found.size) == ("queued", "8", "1280x720")
    lists = fake.calls("GET", "/v1/videos")
    assert [c.query.get("after") is None for c in lists] == [True, False, False]
    assert all(c.query["limit"] == "100" and c.query["order"] == "desc" for c in lists)


async def test_find_skips_identical_siblings_this_provider_already_handed_out(
    provider: OpenAIProvider, fake: FakeVideosAPI
) -> None:
    since = fake.now
    fake.lose_next_response()
    with pytest.raises(ProviderConnectionError):
        await provider.submit(generate(idempotency_key="variation-1"))
    (lost_id,) = fake.videos
    fake.advance(1)
    sibling = await provider.submit(generate(idempotency_key="variation-2"))
    assert sibling.id != lost_id
    found = await provider.find(generate(idempotency_key="variation-1"), since=since)
    assert found is not None and found.id == lost_id
    assert await provider.find(generate(idempotency_key="variation-3"), since=since) is None


async def test_find_returns_none_and_stops_at_the_horizon(
    provider: OpenAIProvider, fake: FakeVideosAPI
) -> None:
    since = fake.now
    for i in range(250):  # a perfect match, but long before the create was sent
        fake.add_video("a calico cat playing a piano", seconds="8", created_at=since - 5000 - i)
    for i in range(30):
        fake.add_video(f"decoy {i}", created_at=since + i)
    assert await provider.find(generate(), since=since) is None
    assert len(fake.calls("GET", "/v1/videos")) == 1


async def test_find_matches_a_remix_by_its_source(
    provider: OpenAIProvider, fake: FakeVideosAPI
) -> None:
    since = fake.now
    fake.add_video("at night", remixed_from="video_other", created_at=since + 1)
    mine = fake.add_video("at night", remixed_from="video_src", created_at=since + 2)
    fake.add_video("at dawn", remixed_from="video_src", created_at=since + 3)
    request = generate("at night", kind="remix", seconds=8, source_id="video_src")
    found = await provider.find(request, since=since)
    assert found is not None and found.id == mine.id and found.remixed_from == "video_src"


async def test_find_matches_an_extension_by_its_stitched_total(
    provider: OpenAIProvider, fake: FakeVideosAPI
) -> None:
    since = fake.now
    mine = fake.add_video("and on", seconds="12", created_at=since + 1)
    request = generate("and on", kind="extend", seconds=4, source_id="video_src")
    found = await provider.find(request, since=since)
    assert found is not None and found.id == mine.id


async def test_find_on_a_server_without_list_is_none(
    provider: OpenAIProvider, fake: FakeVideosAPI
) -> None:
    fake.list_supported = False
    assert await provider.find(generate(), since=fake.now) is None


async def test_find_passes_transient_errors_on(
    provider: OpenAIProvider, fake: FakeVideosAPI
) -> None:
    fake.fail_next(503, "busy")
    with pytest.raises(ProviderUnavailableError):
        await provider.find(generate(), since=fake.now)


# -- list, delete, characters -----------------------------------------------------------------


async def test_list_videos_pages_with_after_limit_and_order(
    provider: OpenAIProvider, fake: FakeVideosAPI
) -> None:
    made = [fake.add_video(f"v{i}", created_at=fake.now - 1000 + i).id for i in range(45)]
    seen: list[str] = []
    after = None
    while True:
        page = await provider.list_videos(after=after, limit=20)
        seen += [video.id for video in page.data]
        assert page.first_id == page.data[0].id and page.last_id == page.data[-1].id
        if not page.has_more:
            break
        after = page.last_id
    assert seen == made[::-1]
    assert [len(c.query) for c in fake.calls("GET", "/v1/videos")] == [2, 3, 3]
    ascending = await provider.list_videos(limit=5, order="asc")
    assert [video.id for video in ascending.data] == made[:5] and ascending.has_more


async def test_delete(provider: OpenAIProvider, fake: FakeVideosAPI) -> None:
    video_id = await completed(provider, fake, generate())
    await provider.delete(video_id)
    assert fake.requests[-1].method == "DELETE"
    assert fake.requests[-1].path == f"/v1/videos/{video_id}"
    with pytest.raises(NotFoundError) as caught:
        await provider.retrieve(video_id)
    assert caught.value.param == "video_id"
    with pytest.raises(NotFoundError):
        await provider.delete(video_id)
    running = await provider.submit(generate(idempotency_key="other"))
    with pytest.raises(InvalidStateError):
        await provider.delete(running.id)


async def test_characters(provider: OpenAIProvider, fake: FakeVideosAPI) -> None:
    clip = SourceVideo(b"mascot-clip", filename="mascot.mp4")
    character = await provider.create_character("Mossy", clip)
    call = fake.calls("POST", "/v1/videos/characters")[-1]
    assert call.encoding == "multipart" and call.body == {"name": "Mossy"}
    assert (call.files["video"].filename, call.files["video"].data) == (
        "mascot.mp4",
        b"mascot-clip",
    )
    assert character.id.startswith("char_") and character.name == "Mossy"
    again = await provider.retrieve_character(character.id)
    assert again == character
    with pytest.raises(NotFoundError) as caught:
        await provider.retrieve_character("char_missing")
    assert caught.value.param == "character_id"
    with pytest.raises(ProviderBadRequestError):
        await provider.create_character("x" * 81, clip)


# -- construction ------------------------------------------------------------------------------


def test_from_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in (
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "SORAKIT_OPENAI_BASE_URL",
        "SORAKIT_OPENAI_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="OPENAI_BASE_URL"):
        OpenAIProvider.from_settings(Settings())
    monkeypatch.setenv("OPENAI_BASE_URL", BASE_URL)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    provider = OpenAIProvider.from_settings(Settings())
    assert provider.base_url == BASE_URL
    assert provider._client.headers["authorization"] == "Bearer sk-from-env"
    assert "sk-from-env" not in repr(provider)
    assert provider.name == "openai"
    assert provider.variants == {"video", "thumbnail", "spritesheet", "image"}
    assert provider.expected_render_seconds(generate()) is None


@pytest.mark.parametrize(
    "url", ["ftp://videos.test/v1", "videos.test/v1", "http://u:p@videos.test/v1", "http://[::1"]
)
def test_unusable_base_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError, match="OPENAI_BASE_URL"):
        OpenAIProvider(base_url=url, api_key="k")


async def test_optional_headers_and_no_key(fake: FakeVideosAPI) -> None:
    provider = OpenAIProvider(
        base_url=BASE_URL,
        api_key=None,
        organization="org-1",
        project="proj-1",
        transport=fake.transport(),
    )
    with pytest.raises(ProviderAuthError):
        await provider.list_videos()
    await provider.aclose()
    headers = fake.requests[-1].headers
    assert "authorization" not in headers
    assert (headers["openai-organization"], headers["openai-project"]) == ("org-1", "proj-1")
    assert provider._client.is_closed


async def test_the_key_never_reaches_a_log_line(
    fake: FakeVideosAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = fake.api_key
    provider = OpenAIProvider(base_url=BASE_URL, api_key=secret, transport=fake.transport())
    job = await provider.submit(generate())
    fake.fail_next(500, "boom")
    with pytest.raises(ProviderUnavailableError):
        await provider.retrieve(job.id)
    await provider.find(generate(), since=fake.now)
    await provider.aclose()
    assert caplog.records
    assert all(secret not in record.getMessage() for record in caplog.records)
