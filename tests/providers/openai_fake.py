"""A faithful fake of the OpenAI Videos API (`/v1/videos`), served through `httpx.MockTransport`.

It follows `shared/reference/openai-videos-api.md`: Bearer auth with the 401 envelope, JSON and
multipart bodies (bracket keys, file parts), `seconds` as a string (an int in JSON is the real
400), `Idempotency-Key` dedupe, queued -> in_progress -> completed on a clock the test moves,
content with Content-Length, cursor pagination, and faults on demand.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx

SECONDS = ("4", "8", "12")
SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")
MEDIA_TYPES = {"video": "video/mp4", "thumbnail": "image/webp", "spritesheet": "image/jpeg"}
INT_SECONDS_MESSAGE = (
    "Invalid type for 'seconds': expected one of '4', '8', or '12', but got an integer instead."
)


@dataclass
class FilePart:
    """An uploaded file part."""

    filename: str | None
    content_type: str
    data: bytes


@dataclass
class Recorded:
    """One request the fake saw, parsed."""

    method: str
    path: str
    raw_path: str
    """The path as sent, percent-escapes kept (ids travel quoted)."""
    query: dict[str, str]
    headers: httpx.Headers
    encoding: str
    """`json`, `multipart` or `none`."""
    body: dict[str, Any] = field(default_factory=dict)
    """The JSON body, or the form fields decoded from their bracket keys."""
    form: list[tuple[str, str]] = field(default_factory=list)
    """The raw form fields, in order, as they travelled."""
    files: dict[str, FilePart] = field(default_factory=dict)
    raw_json: Any = None


@dataclass
class FakeVideo:
    """A job the fake holds."""

    id: str
    model: str
    prompt: str | None
    size: str
    seconds: str
    created_at: float
    queue_seconds: float
    render_seconds: float
    remixed_from: str | None = None
    fail_with: tuple[str, str] | None = None
    status_override: str | None = None


class ApiError(Exception):
    """Raised inside a handler to answer the error envelope."""

    def __init__(
        self, status: int, message: str, *, param: str | None = None, code: str | None = None
    ):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


class FakeVideosAPI:
    """The Videos API, in memory; `transport()` is what the client under test sends through."""

    def __init__(
        self,
        *,
        api_key: str = "sk-test-key",
        queue_seconds: float = 2.0,
        render_seconds: float = 10.0,
        poll_after_ms: int | None = 1500,
        chunk_size: int = 4096,
    ) -> None:
        self.api_key = api_key
        self.queue_seconds = queue_seconds
        self.render_seconds = render_seconds
        self.poll_after_ms = poll_after_ms
        self.chunk_size = chunk_size
        self.now = 1_760_000_000.0
        self.videos: dict[str, FakeVideo] = {}
        self.characters: dict[str, dict[str, Any]] = {}
        self.requests: list[Recorded] = []
        self.list_supported = True
        self._keys: dict[str, str] = {}
        self._counter = 0
        self._faults: list[Callable[[httpx.Request], httpx.Response | None]] = []
        self._lose_next = False
        self._truncate: tuple[int, bool] | None = None

    # -- test controls -------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def fail_next(
        self,
        status: int,
        message: str = "injected",
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> None:
        """The next request answers `status` with the envelope (or `raw` bytes)."""
        if raw is None:
            error = {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": code,
            }
            raw = json.dumps({"error": error}).encode()
            headers = {"content-type": "application/json", **(headers or {})}
        self._faults.append(lambda _request: httpx.Response(status, headers=headers, content=raw))

    def raise_next(self, exc: Exception) -> None:
        """The next request fails on the wire with `exc` before the server sees it."""

        def fault(_request: httpx.Request) -> httpx.Response:
            raise exc

        self._faults.append(fault)

    def lose_next_response(self) -> None:
        """The next request is handled (a create makes its job) but its answer never arrives."""
        self._lose_next = True

    def truncate_next_download(self, after: int, *, error: bool = True) -> None:
        """The next content body stops after `after` bytes: with a protocol error, or silently."""
        self._truncate = (after, error)

    def add_video(
        self,
        prompt: str = "decoy",
        *,
        model: str = "sora-2",
        size: str = "1280x720",
        seconds: str = "4",
        created_at: float | None = None,
        completed: bool = True,
        remixed_from: str | None = None,
        fail_with: tuple[str, str] | None = None,
    ) -> FakeVideo:
        """Put a job in place directly, as if made earlier."""
        created = self.now if created_at is None else created_at
        if completed:
            created = min(created, self.now - self.queue_seconds - self.render_seconds)
        video = self._new(prompt, model, size, seconds, created_at=created)
        video.remixed_from = remixed_from
        video.fail_with = fail_with
        return video

    def content(self, video_id: str, variant: str = "video") -> bytes:
        """The bytes the fake serves for a video's variant."""
        size = {"video": 50_000, "thumbnail": 6_000, "spritesheet": 9_000}[variant]
        seed = f"{variant}:{video_id}:".encode()
        return (seed * (size // len(seed) + 1))[:size]

    def calls(self, method: str, path_prefix: str = "") -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    # -- the server ----------------------------------------------------------------------

    async def handle(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(_record(request))
        if self._faults:
            answer = self._faults.pop(0)(request)
            if answer is not None:
                return answer
        try:
            self._authenticate(request)
            response = self._route(self.requests[-1])
        except ApiError as exc:
            error = {
                "message": exc.message,
                "type": "invalid_request_error",
                "param": exc.param,
                "code": exc.code,
            }
            response = httpx.Response(exc.status, json={"error": error})
        if self._lose_next:
            self._lose_next = False
            raise httpx.ReadTimeout("timed out waiting for the answer", request=request)
        return response

    def _authenticate(self, request: httpx.Request) -> None:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
        if token != self.api_key:
            shown = f"{token[:3]}***{token[-2:]}" if token else "(none)"
            raise ApiError(
                401,
                f"Incorrect API key provided: {shown}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )

    def _route(self, rec: Recorded) -> httpx.Response:
        method = rec.method
        parts = [unquote(p) for p in rec.raw_path.removeprefix("/v1").split("/") if p]
        if parts[:1] != ["videos"]:
            raise ApiError(404, f"Invalid URL ({method} {rec.path})")
        rest = parts[1:]
        if method == "POST" and rest == []:
            return self._create(rec)
        if method == "GET" and rest == []:
            return self._list(rec)
        if method == "POST" and rest == ["characters"]:
            return self._create_character(rec)
        if method == "GET" and len(rest) == 2 and rest[0] == "characters":
            character = self.characters.get(rest[1])
            if character is None:
                raise ApiError(404, f"Character with id '{rest[1]}' not found.")
            return httpx.Response(200, json=character)
        if method == "POST" and rest in (["extensions"], ["edits"]):
            return self._derive(rec, rest[0])
        if method == "POST" and len(rest) == 2 and rest[1] == "remix":
            return self._remix(rec, rest[0])
        if len(rest) == 1 and method in ("GET", "DELETE"):
            video = self._get(rest[0])
            if method == "DELETE":
                if self._state(video)[0] not in ("completed", "failed"):
                    raise ApiError(409, "Only completed or failed videos can be deleted.")
                del self.videos[video.id]
                return httpx.Response(
                    200, json={"id": video.id, "object": "video.deleted", "deleted": True}
                )
            return self._video_response(video)
        if method == "GET" and len(rest) == 2 and rest[1] == "content":
            return self._content(rec, self._get(rest[0]))
        raise ApiError(404, f"Invalid URL ({method} {rec.path})")

    def _create(self, rec: Recorded) -> httpx.Response:
        key = rec.headers.get("idempotency-key")
        if key is not None and key in self._keys and self._keys[key] in self.videos:
            return self._video_response(self.videos[self._keys[key]])
        body = rec.body
        prompt = _prompt(body)
        seconds = _seconds(rec, default="4") or "4"
        size = body.get("size", "720x1280")
        if size not in SIZES:
            raise ApiError(400, f"Invalid value for 'size': {size!r}.", param="size")
        reference = body.get("input_reference")
        if "input_reference" in rec.files:
            reference = rec.files["input_reference"]
        elif reference is not None and (not isinstance(reference, dict) or len(reference) != 1):
            raise ApiError(
                400, "Provide exactly one of image_url or file_id.", param="input_reference"
            )
        characters = body.get("characters", [])
        if len(characters) > 2 or any(set(c) != {"id"} for c in characters):
            raise ApiError(400, "At most 2 characters, each as {id}.", param="characters")
        video = self._new(prompt, body.get("model", "sora-2"), size, seconds)
        if key is not None:
            self._keys[key] = video.id
        return self._video_response(video)

    def _remix(self, rec: Recorded, source_id: str) -> httpx.Response:
        source = self._get(source_id)
        if self._state(source)[0] != "completed":
            raise ApiError(400, "Only completed videos can be remixed.", param="video_id")
        video = self._new(_prompt(rec.body), source.model, source.size, source.seconds)
        video.remixed_from = source.id
        return self._video_response(video)

    def _derive(self, rec: Recorded, kind: str) -> httpx.Response:
        prompt = _prompt(rec.body)
        added = _seconds(rec, default=None) if kind == "extensions" else None
        if kind == "extensions" and added is None:
            raise ApiError(400, "Missing required parameter: 'seconds'.", param="seconds")
        if "video" in rec.files:
            model, size, seconds = rec.body.get("model", "sora-2"), "1280x720", "4"
        else:
            ref = rec.body.get("video")
            if not isinstance(ref, dict) or set(ref) != {"id"}:
                raise ApiError(400, "Missing required parameter: 'video'.", param="video")
            source = self._get(ref["id"])
            if self._state(source)[0] != "completed":
                raise ApiError(400, "The source video is not completed.", param="video")
            model, size, seconds = source.model, source.size, source.seconds
        if added is not None:
            seconds = str(int(seconds) + int(added))
        return self._video_response(self._new(prompt, model, size, seconds))

    def _list(self, rec: Recorded) -> httpx.Response:
        if not self.list_supported:
            raise ApiError(404, "Invalid URL (GET /v1/videos)")
        order = rec.query.get("order", "desc")
        limit = int(rec.query.get("limit", "20"))
        if not 0 <= limit <= 100:
            raise ApiError(400, "limit must be between 0 and 100", param="limit")
        videos = sorted(self.videos.values(), key=lambda v: v.created_at, reverse=order == "desc")
        after = rec.query.get("after")
        if after is not None:
            ids = [v.id for v in videos]
            if after not in ids:
                raise ApiError(400, f"No video with id '{after}' to page after.", param="after")
            videos = videos[ids.index(after) + 1 :]
        page = videos[:limit]
        return httpx.Response(
            200,
            json={
                "object": "list",
                "data": [self._video_json(v) for v in page],
                "first_id": page[0].id if page else None,
                "last_id": page[-1].id if page else None,
                "has_more": len(videos) > len(page),
            },
        )

    def _content(self, rec: Recorded, video: FakeVideo) -> httpx.Response:
        variant = rec.query.get("variant", "video")
        if variant not in MEDIA_TYPES:
            raise ApiError(400, f"Invalid value for 'variant': {variant!r}.", param="variant")
        if self._state(video)[0] != "completed":
            raise ApiError(409, "Video is not ready yet; wait until it completes.")
        data = self.content(video.id, variant)
        stop, error = (len(data), False) if self._truncate is None else self._truncate
        self._truncate = None
        chunk_size = self.chunk_size

        async def body() -> AsyncIterator[bytes]:
            for start in range(0, min(stop, len(data)), chunk_size):
                yield data[start : min(start + chunk_size, stop)]
            if error:
                raise httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body"
                )

        headers = {"content-type": MEDIA_TYPES[variant], "content-length": str(len(data))}
        return httpx.Response(200, headers=headers, content=body())

    def _create_character(self, rec: Recorded) -> httpx.Response:
        if rec.encoding != "multipart":
            raise ApiError(400, "This endpoint takes multipart/form-data.")
        name = rec.body.get("name", "")
        if not 1 <= len(name) <= 80:
            raise ApiError(400, "name must be 1 to 80 characters.", param="name")
        if "video" not in rec.files:
            raise ApiError(400, "Missing required parameter: 'video'.", param="video")
        self._counter += 1
        character = {"id": f"char_{self._counter:024x}", "name": name, "created_at": int(self.now)}
        self.characters[character["id"]] = character
        return httpx.Response(200, json=character)

    # -- state ---------------------------------------------------------------------------

    def _new(
        self,
        prompt: str | None,
        model: str,
        size: str,
        seconds: str,
        *,
        created_at: float | None = None,
    ) -> FakeVideo:
        self._counter += 1
        video = FakeVideo(
            id=f"video_{self._counter:032x}",
            model=model,
            prompt=prompt,
            size=size,
            seconds=seconds,
            created_at=self.now if created_at is None else created_at,
            queue_seconds=self.queue_seconds,
            render_seconds=self.render_seconds,
        )
        self.videos[video.id] = video
        return video

    def _get(self, video_id: str) -> FakeVideo:
        video = self.videos.get(video_id)
        if video is None:
            raise ApiError(404, f"Video with id '{video_id}' not found.", param="video_id")
        return video

    def _state(self, video: FakeVideo) -> tuple[str, int]:
        if video.status_override is not None:
            return video.status_override, 0
        elapsed = self.now - video.created_at
        if elapsed < video.queue_seconds:
            return "queued", 0
        if elapsed < video.queue_seconds + video.render_seconds:
            return "in_progress", int(100 * (elapsed - video.queue_seconds) / video.render_seconds)
        return ("failed" if video.fail_with else "completed"), 100

    def _video_json(self, video: FakeVideo) -> dict[str, Any]:
        status, progress = self._state(video)
        finished = status in ("completed", "failed")
        done_at = video.created_at + video.queue_seconds + video.render_seconds
        error = None
        if status == "failed" and video.fail_with:
            error = {"code": video.fail_with[0], "message": video.fail_with[1]}
        return {
            "id": video.id,
            "object": "video",
            "model": video.model,
            "status": status,
            "progress": progress,
            "created_at": int(video.created_at),
            "completed_at": int(done_at) if finished else None,
            "expires_at": int(video.created_at) + 86400,
            "prompt": video.prompt,
            "size": video.size,
            "seconds": video.seconds,
            "remixed_from_video_id": video.remixed_from,
            "error": error,
        }

    def _video_response(self, video: FakeVideo) -> httpx.Response:
        headers = {}
        if self.poll_after_ms is not None:
            headers["openai-poll-after-ms"] = str(self.poll_after_ms)
        return httpx.Response(200, json=self._video_json(video), headers=headers)


def _prompt(body: dict[str, Any]) -> str:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not 1 <= len(prompt) <= 32000:
        raise ApiError(400, "Missing required parameter: 'prompt'.", param="prompt")
    return prompt


def _seconds(rec: Recorded, *, default: str | None) -> str | None:
    value = rec.body.get("seconds", default)
    if (
        rec.encoding == "json"
        and isinstance(rec.raw_json, dict)
        and isinstance(rec.raw_json.get("seconds"), int)
    ):
        raise ApiError(400, INT_SECONDS_MESSAGE, param="seconds")
    if value is not None and value not in SECONDS:
        raise ApiError(400, f"Invalid value for 'seconds': {value!r}.", param="seconds")
    return value


def _record(request: httpx.Request) -> Recorded:
    content_type = request.headers.get("content-type", "")
    rec = Recorded(
        method=request.method,
        path=request.url.path,
        raw_path=request.url.raw_path.decode().split("?")[0],
        query=dict(request.url.params),
        headers=request.headers,
        encoding="none",
    )
    if content_type.startswith("application/json"):
        rec.encoding = "json"
        rec.raw_json = json.loads(request.content)
        rec.body = rec.raw_json if isinstance(rec.raw_json, dict) else {}
    elif content_type.startswith("multipart/form-data"):
        rec.encoding = "multipart"
        rec.form, rec.files = _parse_multipart(content_type, request.content)
        rec.body = unflatten(rec.form)
    return rec


def _parse_multipart(
    content_type: str, content: bytes
) -> tuple[list[tuple[str, str]], dict[str, FilePart]]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + content)
    form: list[tuple[str, str]] = []
    files: dict[str, FilePart] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        assert isinstance(name, str), "every part has a name"
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        filename = part.get_filename()
        if filename is None:
            form.append((name, payload.decode()))
        else:
            files[name] = FilePart(filename, part.get_content_type(), payload)
    return form, files


def unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Bracket-keyed form fields back into a JSON-shaped dict (`a[b]`, `a[][b]`), like `qs`."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        match = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", key)
        assert match, f"malformed form key {key!r}"
        _put(out, [match[1], *re.findall(r"\[([^\[\]]*)\]", match[2])], value)
    return out


def _put(node: dict[str, Any], segments: list[str], value: str) -> None:
    key, rest = segments[0], segments[1:]
    if not rest:
        node[key] = value
    elif rest[0] == "":
        items = node.setdefault(key, [])
        if len(rest) == 1:
            items.append(value)
        else:
            child: dict[str, Any] = {}
            items.append(child)
            _put(child, rest[1:], value)
    else:
        _put(node.setdefault(key, {}), rest, value)
