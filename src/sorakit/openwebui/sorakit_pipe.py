"""
title: sorakit video
author: sorakit
version: 0.1.0
requirements:
license: MIT
description: Make videos by talking to a sorakit server: each sorakit model is an Open WebUI model; progress shows as status with percent and ETA; the video is kept in Open WebUI's own file store.
"""

# The Open WebUI pipe for sorakit, one self-contained file (Workspace -> Functions -> import).
#
# It is a thin client of `sorakit serve`: the conversation goes to the server's chat facade
# (`POST /v1/chat/completions`, streamed), which understands the turn (intent, length, shape,
# "remix it" from sorakit's own intro line in earlier answers) and creates the job. The pipe turns
# the stream's `sorakit` state into status events, downloads the finished video (bounded), puts it
# into Open WebUI's file store and answers with a player of that file, keeping sorakit's intro line
# so a later "remix it" finds the video. It needs only what Open WebUI already has: httpx and
# pydantic, and Open WebUI's own modules for its file store. Every failure is a readable message.

from __future__ import annotations

import asyncio
import base64
import html
import inspect
import io
import json
import logging
import re
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, Field

log = logging.getLogger("sorakit_pipe")

Emitter = Callable[[dict[str, Any]], Awaitable[None]]

FALLBACK_MODELS = "sora-2,sora-2-pro"
UNREACHABLE_ID = "sorakit-unreachable"
SIZE = re.compile(r"^(\d{2,5})x(\d{2,5})$")
LINK = re.compile(r"\((https?://[^)\s]+?/v1/(?:links|images)/[^)\s]+?/content\?[^)\s]+)\)")
VIDEO_ID = re.compile(r"video_[0-9a-f]{32}")
MEDIA: tuple[tuple[str, str, Callable[[bytes], bool]], ...] = (
    ("video/mp4", ".mp4", lambda data: data[4:8] == b"ftyp"),
    ("image/png", ".png", lambda data: data.startswith(b"\x89PNG\r\n\x1a\n")),
    ("image/jpeg", ".jpg", lambda data: data.startswith(b"\xff\xd8\xff")),
    ("image/webp", ".webp", lambda data: data[:4] == b"RIFF" and data[8:12] == b"WEBP"),
)
"""What a finished link may serve, told by its first bytes: its media type and extension."""
FAILURES = {
    401: "sorakit refused the API key. Set the pipe's API key valve (or your own in User Valves).",
    403: "Your sorakit key may not do this",
    404: "sorakit does not know this model or video",
    413: "The message is too large for the sorakit server (a smaller image helps)",
    429: "sorakit's limit for your key is reached; try again in a moment",
}


class SorakitFailure(Exception):
    """A failure with a sentence fit for the chat."""


class Pipe:
    class Valves(BaseModel):
        SORAKIT_URL: str = Field(
            default="http://127.0.0.1:8000",
            description="The sorakit server, as Open WebUI reaches it.",
        )
        API_KEY: str = Field(default="", description="A sorakit API key (users may set their own).")
        MODELS: str = Field(
            default=FALLBACK_MODELS, description="Models listed when the server cannot be reached."
        )
        DEFAULT_MODEL: str = Field(default="sora-2", description="Used when a chat names no model.")
        DEFAULT_DURATION: int = Field(
            default=0, description="Seconds when the words say none (0: the model's default)."
        )
        DEFAULT_SIZE: str = Field(
            default="", description="WxH when the words name no shape (empty: the model's default)."
        )
        ALLOWED_SIZES: str = Field(
            default="720x1280,1280x720,1024x1792,1792x1024,1080x1920,1920x1080",
            description="Sizes the default may be (comma-separated WxH; invalid ones are ignored).",
        )
        ENABLE_VARIATIONS: bool = Field(default=True, description="Allow several takes per turn.")
        MAX_VARIATIONS: int = Field(default=4, ge=1, le=8, description="The most takes per turn.")
        MAX_REMOTE_MEDIA_BYTES: int = Field(
            default=200 * 1024 * 1024, ge=1, description="The largest video (or image) to copy."
        )
        TASK_MODEL: str = Field(
            default="",
            description="An Open WebUI model that answers background tasks (titles, tags) for "
            "these chats; empty: the pipe answers them itself, never with a video.",
        )
        REQUEST_TIMEOUT: float = Field(default=30.0, gt=0, description="Seconds per HTTP call.")
        POLL_INTERVAL_SECONDS: float = Field(
            default=1.0, ge=0, description="The shortest gap between two status updates."
        )
        MAX_POLL_TIME_SECONDS: float = Field(
            default=1800.0, gt=0, description="How long a turn waits for its video."
        )
        IMMEDIATE_DELETE_JOBS: bool = Field(
            default=False,
            description="Delete the video on the server once it is in Open WebUI ('remix it' "
            "then has nothing to remix).",
        )
        ENABLE_LOGGING: bool = Field(default=False, description="Log each step (never the keys).")

    class UserValves(BaseModel):
        API_KEY: str = Field(default="", description="Your own sorakit API key.")

    def __init__(self) -> None:
        self.type = "manifold"
        self.name = "sorakit/"
        self.valves = self.Valves()

    # -- the manifold ------------------------------------------------------------------------

    async def pipes(self) -> list[dict[str, str]]:
        """Each sorakit video model; the fallback list and a warning entry when unreachable."""
        try:
            async with self._client(self.valves.API_KEY, timeout=5.0) as client:
                answer = await client.get("/v1/models")
            answer.raise_for_status()
            names = [item["id"] for item in answer.json()["data"]]
            return [{"id": name, "name": name} for name in names]
        except Exception as exc:  # a model list must never break Open WebUI's model page
            log.warning("sorakit: cannot list models at %s: %s", self.valves.SORAKIT_URL, exc)
            names = [n.strip() for n in self.valves.MODELS.split(",") if n.strip()]
            warning = f"⚠ sorakit unreachable at {self.valves.SORAKIT_URL}: check the valves"
            return [{"id": UNREACHABLE_ID, "name": warning}] + [{"id": n, "name": n} for n in names]

    # -- one turn ----------------------------------------------------------------------------

    async def pipe(
        self,
        body: dict[str, Any],
        __user__: dict[str, Any] | None = None,
        __event_emitter__: Emitter | None = None,
        __task__: str | None = None,
        __request__: Any = None,
    ) -> str:
        user = __user__ or {}
        if __task__:
            return await self._task(__task__, body, user, __request__)
        emit = _Status(__event_emitter__, self.valves.POLL_INTERVAL_SECONDS)
        try:
            return await asyncio.wait_for(
                self._turn(body, user, emit), timeout=self.valves.MAX_POLL_TIME_SECONDS
            )
        except SorakitFailure as exc:
            await emit.finish(str(exc))
            return str(exc)
        except TimeoutError:
            text = (
                f"The video is still rendering after {self.valves.MAX_POLL_TIME_SECONDS:g} s; "
                "it goes on on the sorakit server. Ask again later (`sorakit jobs` lists it)."
            )
            await emit.finish(text)
            return text
        except Exception as exc:  # never a traceback in the chat
            log.exception("sorakit pipe failed")
            text = f"sorakit: something went wrong ({type(exc).__name__}); the log has details."
            await emit.finish(text)
            return text

    async def _turn(self, body: dict[str, Any], user: dict[str, Any], emit: _Status) -> str:
        model = self._model(str(body.get("model") or ""))
        messages = await _messages(body.get("messages") or [], self.valves.MAX_REMOTE_MEDIA_BYTES)
        most = self.valves.MAX_VARIATIONS if self.valves.ENABLE_VARIATIONS else 1
        request: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "stream": True,
            "max_takes": most,  # takes asked in words too: the server cuts them, with a note
        }
        n = body.get("n")
        if isinstance(n, int) and n > 1:
            request["n"] = min(n, most)
        key = _user_key(user) or self.valves.API_KEY
        self._log("sending a turn to %s with %s", self.valves.SORAKIT_URL, model)
        async with self._client(key) as client:
            intro, final = await self._stream(client, request, emit)
            links = list(dict.fromkeys(LINK.findall(final)))
            if not links:
                raise SorakitFailure(f"{intro}\n\nsorakit answered without a video:\n\n{final}")
            noun = "image" if "/v1/images/" in links[0] else "video"
            stored = []
            for number, link in enumerate(links, 1):
                what = f"{noun} {number}/{len(links)}" if len(links) > 1 else f"the {noun}"
                await emit.say(f"Copying {what} into Open WebUI…", done=False)
                data, kind, extension = await self._download(client, link)
                name = urlsplit(html.unescape(link)).path.split("/")[-2] + extension
                stored.append((name, kind, await _store(data, name, kind, user)))
            if self.valves.IMMEDIATE_DELETE_JOBS:
                for video_id in dict.fromkeys(VIDEO_ID.findall(" ".join(links))):
                    await self._delete(client, video_id)
        ready = f"Your {noun} is ready." if len(stored) == 1 else f"Your {noun}s are ready."
        await emit.finish(ready)
        return _answer(intro, stored)

    def _model(self, asked: str) -> str:
        """The server's model name: the manifold's part after the function id, shaped by the
        default length and size (sora2api's names carry them; the words still win)."""
        model = asked.split(".", 1)[1] if "." in asked else (asked or self.valves.DEFAULT_MODEL)
        if model == UNREACHABLE_ID:
            raise SorakitFailure(
                f"sorakit is not reachable at {self.valves.SORAKIT_URL}. Check that `sorakit "
                "serve` runs there and the pipe's SORAKIT_URL valve, then reload the models."
            )
        size = self._default_size()
        seconds = self.valves.DEFAULT_DURATION
        family = {"sora-2": "sora2", "sora-2-pro": "sora2pro"}.get(model)
        if family is None or not (size or seconds > 0):
            return model
        name = family
        if size:
            width, height = (int(part) for part in size.split("x"))
            if family == "sora2pro" and max(width, height) >= 1920:
                name = "sora2pro-hd"
            name += "-landscape" if width >= height else "-portrait"
        return f"{name}-{seconds}s" if seconds > 0 else name

    def _default_size(self) -> str:
        allowed = []
        for entry in (s.strip() for s in self.valves.ALLOWED_SIZES.split(",")):
            if SIZE.match(entry):
                allowed.append(entry)
            elif entry:
                log.warning("sorakit: ignoring %r in ALLOWED_SIZES (not WxH)", entry)
        size = self.valves.DEFAULT_SIZE.strip()
        if size and size not in allowed:
            log.warning("sorakit: ignoring DEFAULT_SIZE %r (not in ALLOWED_SIZES)", size)
            return ""
        return size

    async def _stream(
        self, client: httpx.AsyncClient, request: dict[str, Any], emit: _Status
    ) -> tuple[str, str]:
        """Read the facade's stream: the intro line and the final message."""
        intro, final, state = "", "", dict[str, Any]()
        started = time.monotonic()
        try:
            async with client.stream("POST", "/v1/chat/completions", json=request) as answer:
                if answer.status_code != 200:
                    await answer.aread()
                    raise SorakitFailure(_refusal(answer))
                async for line in answer.aiter_lines():
                    if not line.startswith("data: ") or line == "data: [DONE]":
                        continue
                    event = json.loads(line.removeprefix("data: "))
                    if "error" in event:
                        raise SorakitFailure(_failure(event["error"], state))
                    content = "".join(
                        (choice.get("delta") or {}).get("content") or ""
                        for choice in event.get("choices") or []
                    )
                    if content and not intro:
                        intro = content.strip()
                    elif content:
                        final = content
                    if "sorakit" in event:
                        state = event["sorakit"]
                        await emit.progress(intro, state, time.monotonic() - started)
        except httpx.ConnectError as exc:
            raise SorakitFailure(
                f"sorakit is not reachable at {self.valves.SORAKIT_URL} ({exc}). Is `sorakit "
                "serve` running, and is the SORAKIT_URL valve right?"
            ) from exc
        except httpx.TimeoutException as exc:
            raise SorakitFailure(
                f"sorakit at {self.valves.SORAKIT_URL} did not answer in time ({exc!r})."
            ) from exc
        if not intro:
            raise SorakitFailure("sorakit ended the answer before it started; try again.")
        self._log("sorakit answered %s", intro)
        return intro, final

    async def _download(self, client: httpx.AsyncClient, link: str) -> tuple[bytes, str, str]:
        """The MP4 or image behind a signed link, through the configured server (never another
        host), at most MAX_REMOTE_MEDIA_BYTES; with its media type and file extension."""
        parts = urlsplit(html.unescape(link))
        limit = self.valves.MAX_REMOTE_MEDIA_BYTES
        buffer = io.BytesIO()
        async with client.stream("GET", f"{parts.path}?{parts.query}") as answer:
            if answer.status_code != 200:
                await answer.aread()
                raise SorakitFailure(f"The finished file could not be fetched: {_refusal(answer)}")
            declared = int(answer.headers.get("content-length") or 0)
            if declared > limit:
                raise SorakitFailure(_too_big(declared, limit))
            async for chunk in answer.aiter_bytes():
                buffer.write(chunk)
                if buffer.tell() > limit:
                    raise SorakitFailure(_too_big(buffer.tell(), limit))
        data = buffer.getvalue()
        for kind, extension, matches in MEDIA:
            if matches(data):
                return data, kind, extension
        raise SorakitFailure("sorakit sent something that is neither an MP4 video nor an image.")

    async def _delete(self, client: httpx.AsyncClient, video_id: str) -> None:
        answer = await client.delete(f"/v1/videos/{video_id}")
        if answer.status_code >= 400:
            log.warning("sorakit: could not delete %s: HTTP %d", video_id, answer.status_code)

    async def _task(
        self, task: str, body: dict[str, Any], user: dict[str, Any], request: Any
    ) -> str:
        """Open WebUI's background tasks: a task model answers, else a title from the words;
        a video is never made for them."""
        if self.valves.TASK_MODEL and request is not None:
            try:
                from open_webui.models.users import Users  # type: ignore[import-not-found]
                from open_webui.utils.chat import (  # type: ignore[import-not-found]
                    generate_chat_completion,
                )

                found = Users.get_user_by_id(user.get("id", ""))
                found = await found if inspect.isawaitable(found) else found
                asked = {**body, "model": self.valves.TASK_MODEL, "stream": False}
                answer = await generate_chat_completion(request, asked, found, bypass_filter=True)
                return str(answer["choices"][0]["message"]["content"])
            except Exception as exc:
                log.warning("sorakit: the task model %s failed: %s", self.valves.TASK_MODEL, exc)
        if "title" in task:
            words = _last_user_text(body.get("messages") or []).split()
            return json.dumps({"title": " ".join(words[:6]) or "Video"})
        return json.dumps({"tags": [], "follow_ups": [], "queries": []})

    def _client(self, key: str, timeout: float | None = None) -> httpx.AsyncClient:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        wait = httpx.Timeout(timeout or self.valves.REQUEST_TIMEOUT, read=None)
        return httpx.AsyncClient(
            base_url=self.valves.SORAKIT_URL.rstrip("/"),
            headers=headers,
            timeout=wait,
            verify=_tls(),
        )

    def _log(self, message: str, *args: Any) -> None:
        if self.valves.ENABLE_LOGGING:
            log.info("sorakit: " + message, *args)


class _Status:
    """Status events for Open WebUI, at most one per interval (the first and last always)."""

    def __init__(self, emitter: Emitter | None, interval: float) -> None:
        self.emitter, self.interval, self.last = emitter, interval, 0.0

    async def say(self, description: str, *, done: bool, force: bool = True) -> None:
        now = time.monotonic()
        if self.emitter is None or (not force and now - self.last < self.interval):
            return
        self.last = now
        try:
            await self.emitter(
                {"type": "status", "data": {"description": description, "done": done}}
            )
        except Exception as exc:  # a closed browser tab must not stop the video
            log.warning("sorakit: status event not sent: %s", exc)

    async def progress(self, intro: str, state: dict[str, Any], elapsed: float) -> None:
        percent = int(state.get("progress") or 0)
        status = str(state.get("status") or "")
        eta = state.get("eta_seconds")
        if eta is None and 0 < percent < 100:  # no estimate from the server: from the pace so far
            eta = elapsed * (100 - percent) / percent
        words = {"pending": "Submitting", "queued": "Queued", "fetching": "Fetching the video"}
        text = f"{words.get(status, 'Rendering')}… {percent}%"
        if eta and percent < 100:
            text += f", about {_duration(float(eta))} left"
        first = self.last == 0.0
        if first and intro:
            text = f"{intro.splitlines()[0]} {text}"
        await self.say(text, done=False, force=first or status == "completed")

    async def finish(self, description: str) -> None:
        await self.say(description.splitlines()[0][:200], done=True)


@cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every call (making one per client costs tens of ms per turn)."""
    return ssl.create_default_context()


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _user_key(user: dict[str, Any]) -> str:
    valves = user.get("valves")
    key = getattr(valves, "API_KEY", None) if valves is not None else None
    if key is None and isinstance(valves, dict):
        key = valves.get("API_KEY")
    return str(key or "")


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


async def _messages(messages: list[Any], limit: int) -> list[dict[str, Any]]:
    """The conversation as the facade reads it: roles and contents, images as data URLs (an
    Open WebUI file link is read from its own store)."""
    sent = []
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            continue
        content = message.get("content")
        if isinstance(content, list):
            content = [await _part(part, limit) for part in content if isinstance(part, dict)]
        sent.append({"role": message["role"], "content": content or ""})
    return sent


async def _part(part: dict[str, Any], limit: int) -> dict[str, Any]:
    if part.get("type") != "image_url":
        return part
    url = str((part.get("image_url") or {}).get("url") or "")
    if url.startswith("data:"):
        if len(url) * 3 // 4 > limit:
            raise SorakitFailure(_too_big(len(url) * 3 // 4, limit))
        return part
    match = re.search(r"/api/v1/files/([0-9a-f-]{36})", url)
    if match is None:
        return part  # the server checks (and refuses) any other URL in words
    return {"type": "image_url", "image_url": {"url": await _file_data_url(match.group(1), limit)}}


async def _file_data_url(file_id: str, limit: int) -> str:
    """An image in Open WebUI's store as a data URL, read with its own modules."""
    from open_webui.models.files import Files  # type: ignore[import-not-found]
    from open_webui.storage.provider import Storage  # type: ignore[import-not-found]

    found = Files.get_file_by_id(file_id)
    found = await found if inspect.isawaitable(found) else found
    if found is None:
        raise SorakitFailure("The attached image is no longer in Open WebUI's files.")
    path = await asyncio.to_thread(Storage.get_file, found.path)
    data = await asyncio.to_thread(_read_bounded, path, limit)
    kind = (found.meta or {}).get("content_type") or "image/png"
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"


def _read_bounded(path: str, limit: int) -> bytes:
    with open(path, "rb") as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise SorakitFailure(_too_big(len(data), limit))
    return data


async def _store(data: bytes, name: str, kind: str, user: dict[str, Any]) -> str:
    """Put the video or image into Open WebUI's file store (its storage provider and its files table),
    as its upload route does; the file's id."""
    from open_webui.models.files import FileForm, Files
    from open_webui.storage.provider import Storage

    file_id = str(uuid.uuid4())
    tags = {
        "OpenWebUI-User-Email": str(user.get("email", "")),
        "OpenWebUI-User-Id": str(user.get("id", "")),
        "OpenWebUI-User-Name": str(user.get("name", "")),
        "OpenWebUI-File-Id": file_id,
    }
    contents, path = await asyncio.to_thread(
        Storage.upload_file, io.BytesIO(data), f"{file_id}_{name}", tags
    )
    form = FileForm(
        id=file_id,
        filename=name,
        path=path,
        data={},
        meta={"name": name, "content_type": kind, "size": len(contents)},
    )
    row = Files.insert_new_file(str(user.get("id", "")), form)
    row = await row if inspect.isawaitable(row) else row
    if row is None:
        raise SorakitFailure("Open WebUI did not keep the file; see its log.")
    return file_id


def _answer(intro: str, stored: list[tuple[str, str, str]]) -> str:
    """sorakit's intro line (so "remix it" or "animate it" finds the work), then each video as
    a player, or each image shown, with a download link, from Open WebUI's own store."""
    parts = [intro, ""]
    for name, kind, file_id in stored:
        url = f"/api/v1/files/{file_id}/content"
        shown = (
            f'<video src="{url}" controls></video>' if kind == "video/mp4" else f"![{name}]({url})"
        )
        parts.append(f"{shown}\n\n[Download {name}]({url})\n")
    return "\n".join(parts).rstrip() + "\n"


def _refusal(answer: httpx.Response) -> str:
    """An HTTP refusal in the server's own words, with what to do about it."""
    try:
        error = dict(answer.json()["error"])
    except Exception:
        error = {"message": f"HTTP {answer.status_code}"}
    code, message = str(error.get("code") or ""), str(error.get("message"))
    if "budget" in code or "moderation" in code:
        return _failure(error, {})
    hint = FAILURES.get(answer.status_code)
    if answer.status_code == 401 and hint:
        return f"{hint} (sorakit: {message})"
    return f"{hint}: {message}" if hint else f"sorakit refused: {message}"


def _failure(error: dict[str, Any], state: dict[str, Any]) -> str:
    """A failed job (or a code-named refusal) in words."""
    code = str(error.get("code") or "")
    message = str(error.get("message") or "the video failed")
    if "moderation" in code:
        return f"The video was blocked by moderation: {message}"
    if "budget" in code:
        return f"sorakit's budget does not allow this video: {message}"
    where = f" ({state['id']})" if state.get("id") else ""
    return f"The video failed{where}: {message}"


def _too_big(size: int, limit: int) -> str:
    return (
        f"The media is {size:,} bytes, over the pipe's limit of {limit:,} (MAX_REMOTE_MEDIA_BYTES)."
    )
