"""The OpenAI Images API (`/images/generations`, `/images/edits`) behind the job seam.

That API answers synchronously: the POST that pays for an image also returns it. So `submit`
makes the call and, before it returns, writes the image atomically into a spool folder
(`<assets>/spool/openai-images/`) under a name derived from the request's idempotency key; the
job's remote id names that spool entry, `retrieve` reads the entry, and `download` streams it.
A submit that finds its entry already there (an earlier attempt paid, then the process died
before the ledger heard) returns it without calling again, and so does `find`; a moderation
refusal is spooled too, as a small JSON file, so a retry does not ask again either.

Bodies follow the official SDK (openai 3.x `images.generate` / `images.edit`): JSON for a
generation; multipart for an edit, each input image as an `image[]` part and the `mask` as its
own part. `gpt-image-*` models get `quality: medium` (the catalog's prices are medium's) and
`output_format`; `dall-e-*` models get `response_format: b64_json` instead. An answer that
carries a `url` rather than `b64_json` is fetched without our credential.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx

from sorakit.errors import InvalidRequestError, NotFoundError, ProviderError
from sorakit.providers._http import read_quietly
from sorakit.providers.base import IMAGE_FORMATS, Download, RemoteJob, SubmitRequest
from sorakit.providers.openai._errors import HTTPX_ERRORS, PROVIDER, translate_error

logger = logging.getLogger(__name__)

SPOOL_PREFIX = "imgspool_"
"""Remote ids of image jobs: the prefix and 32 hex digits of the idempotency key's SHA-256."""
IMAGE_TIMEOUT = httpx.Timeout(300.0, connect=10.0)
"""One image can take minutes (gpt-image-1 at high quality); the call is the whole job."""
CHUNK = 64 * 1024
_MODERATION_CODES = frozenset({"moderation_blocked", "content_policy_violation", "content_filter"})
_MAGIC = ((b"\x89PNG", "png"), (b"\xff\xd8\xff", "jpeg"), (b"RIFF", "webp"))


def spool_id(idempotency_key: str) -> str:
    """The remote id of the image job sent with this idempotency key."""
    return SPOOL_PREFIX + hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]


def is_spool_id(remote_id: str) -> bool:
    """Whether a remote id names an image job's spool entry."""
    digest = remote_id.removeprefix(SPOOL_PREFIX)
    return (
        remote_id.startswith(SPOOL_PREFIX)
        and len(digest) == 32
        and all(c in "0123456789abcdef" for c in digest)
    )


@dataclass(frozen=True)
class SpoolEntry:
    """What the spool holds for one job: an image file, or the provider's refusal."""

    path: Path
    media_type: str | None
    error_code: str | None = None
    error_message: str | None = None


class ImageSpool:
    """The folder of images paid for and not yet archived, one file per job."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _stem(self, remote_id: str) -> str:
        if not is_spool_id(remote_id):
            raise NotFoundError(f"{remote_id!r} is not an image job of the openai provider")
        return remote_id.removeprefix(SPOOL_PREFIX)

    def lookup(self, remote_id: str) -> SpoolEntry | None:
        """The entry of a job, or None when nothing was spooled under its id."""
        stem = self._stem(remote_id)
        for fmt, media_type in IMAGE_FORMATS.items():
            path = self.root / f"{stem}.{fmt}"
            if path.is_file():
                return SpoolEntry(path, media_type)
        failure = self.root / f"{stem}.failed.json"
        if failure.is_file():
            data = json.loads(failure.read_text())
            return SpoolEntry(failure, None, str(data["code"]), str(data["message"]))
        return None

    def write(self, remote_id: str, suffix: str, data: bytes) -> Path:
        """Write one entry atomically (a temporary file, fsync, rename)."""
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / f"{self._stem(remote_id)}.{suffix}"
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return final

    def remove(self, remote_id: str) -> None:
        """Forget a job's entry (once its image is archived)."""
        entry = self.lookup(remote_id)
        if entry is not None:
            entry.path.unlink(missing_ok=True)


class OpenAIImages:
    """The Images API half of the `openai` provider (see the module docstring)."""

    def __init__(self, *, api: httpx.AsyncClient, media: httpx.AsyncClient, spool: Path) -> None:
        self._api = api
        self._media = media
        self.spool = ImageSpool(spool)

    async def submit(self, request: SubmitRequest) -> RemoteJob:
        """Return the spooled job if an earlier attempt paid for it, else make the call."""
        remote_id = spool_id(request.idempotency_key)
        earlier = await self.find(request)
        if earlier is not None:
            logger.info("openai: image %s was already paid for; not sending again", remote_id)
            return earlier
        path, kwargs = _call(request)
        headers = {"Idempotency-Key": request.idempotency_key}
        logger.debug("openai: POST %s (model %s)", path, request.model)
        try:
            response = await self._api.post(path, headers=headers, timeout=IMAGE_TIMEOUT, **kwargs)
        except HTTPX_ERRORS as exc:
            raise translate_error(exc) from exc
        if not response.is_success:
            code, message = _refusal(response)
            if code is None:
                raise translate_error(response)
            await anyio.to_thread.run_sync(self._spool_failure, remote_id, code, message)
            return _failed(remote_id, request, code, message)
        data = await self._image_bytes(response)
        await anyio.to_thread.run_sync(self.spool.write, remote_id, _format_of(data), data)
        logger.info("openai: image %s spooled (%d bytes)", remote_id, len(data))
        return _completed(remote_id, request)

    async def find(self, request: SubmitRequest) -> RemoteJob | None:
        """The job an earlier submit of this request spooled, or None."""
        remote_id = spool_id(request.idempotency_key)
        entry = await anyio.to_thread.run_sync(self.spool.lookup, remote_id)
        if entry is None:
            return None
        if entry.error_code is not None:
            return _failed(remote_id, request, entry.error_code, entry.error_message or "")
        return _completed(remote_id, request)

    async def retrieve(self, remote_id: str) -> RemoteJob:
        """The spooled job's state: completed, or failed with the provider's reason."""
        entry = await anyio.to_thread.run_sync(self.spool.lookup, remote_id)
        if entry is None:
            raise NotFoundError(
                f"the image {remote_id} is not in the spool (archived and removed, or never made)",
                param="id",
            )
        if entry.error_code is not None:
            return RemoteJob(
                id=remote_id,
                status="failed",
                error_code=entry.error_code,
                error_message=entry.error_message,
            )
        return RemoteJob(id=remote_id, status="completed", progress=100, seconds="0")

    @asynccontextmanager
    async def download(self, remote_id: str) -> AsyncIterator[Download]:
        """Stream the spooled image from disk, in chunks read in a thread."""
        entry = await anyio.to_thread.run_sync(self.spool.lookup, remote_id)
        if entry is None or entry.media_type is None:
            raise NotFoundError(f"the image {remote_id} has no spooled file", param="id")
        size = await anyio.to_thread.run_sync(lambda: entry.path.stat().st_size)
        yield Download(
            chunks=_read_chunks(entry.path), media_type=entry.media_type, expected_size=size
        )

    async def aclose(self) -> None:
        """Close the client that fetches image URLs."""
        await self._media.aclose()

    async def delete(self, remote_id: str) -> None:
        """Drop the spooled file (the engine has archived the image)."""
        await anyio.to_thread.run_sync(self.spool.remove, remote_id)

    def _spool_failure(self, remote_id: str, code: str, message: str) -> None:
        body = json.dumps({"code": code, "message": message}).encode()
        self.spool.write(remote_id, "failed.json", body)

    async def _image_bytes(self, response: httpx.Response) -> bytes:
        """The image of a success answer: its `b64_json`, else the file at its `url`."""
        try:
            body = response.json()
        except ValueError:
            body = None
        data = body.get("data") if isinstance(body, dict) else None
        first = data[0] if isinstance(data, list) and data else None
        if isinstance(first, dict) and isinstance(first.get("b64_json"), str):
            try:
                return base64.b64decode(first["b64_json"], validate=True)
            except (binascii.Error, ValueError) as exc:
                raise _bad_answer(response, "its b64_json is not base64") from exc
        if isinstance(first, dict) and isinstance(first.get("url"), str):
            return await self._fetch(first["url"])
        raise _bad_answer(response, "it carries no image (data[0].b64_json or url)")

    async def _fetch(self, url: str) -> bytes:
        try:
            response = await self._media.get(url, timeout=IMAGE_TIMEOUT)
        except HTTPX_ERRORS as exc:
            raise translate_error(exc) from exc
        if not response.is_success:
            await read_quietly(response, PROVIDER)
            raise translate_error(response)
        return response.content


def _call(request: SubmitRequest) -> tuple[str, dict[str, Any]]:
    """The path and httpx arguments of one image: a JSON generation or a multipart edit."""
    if request.output_format not in IMAGE_FORMATS:
        raise InvalidRequestError(
            f"an image is written as png, jpeg or webp, not {request.output_format!r}",
            param="output_format",
            allowed=list(IMAGE_FORMATS),
        )
    fields: dict[str, str] = {
        "model": request.model,
        "prompt": request.prompt,
        "n": "1",
        "size": request.size,
    }
    if request.model.startswith("dall-e"):
        fields["response_format"] = "b64_json"
    else:
        fields["quality"] = "medium"
        fields["output_format"] = request.output_format
    if not request.reference_images:
        body: dict[str, Any] = {**fields, "n": 1}
        return "/images/generations", {"json": body}
    files = [
        ("image[]", (f"image-{i}.{_ext(image.media_type)}", image.data, image.media_type))
        for i, image in enumerate(request.reference_images)
    ]
    if request.mask is not None:
        files.append(("mask", ("mask.png", request.mask.data, request.mask.media_type)))
    return "/images/edits", {"data": fields, "files": files}


def _ext(media_type: str) -> str:
    return {v: k for k, v in IMAGE_FORMATS.items()}.get(media_type, "png")


def _format_of(data: bytes) -> str:
    """The file format from the bytes themselves (a server may ignore `output_format`)."""
    for magic, fmt in _MAGIC:
        if data.startswith(magic) and (fmt != "webp" or data[8:12] == b"WEBP"):
            return fmt
    raise ProviderError(
        "the openai provider answered an image that is not PNG, JPEG or WebP", provider=PROVIDER
    )


def _refusal(response: httpx.Response) -> tuple[str | None, str]:
    """`("moderation_blocked", reason)` for a content refusal, else `(None, "")`."""
    if response.status_code != 400:
        return None, ""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None, ""
    code = error.get("code") if isinstance(error, dict) else None
    if code not in _MODERATION_CODES:
        return None, ""
    message = error.get("message")
    return "moderation_blocked", message if isinstance(message, str) and message else str(code)


def _bad_answer(response: httpx.Response, why: str) -> ProviderError:
    return ProviderError(
        f"the openai provider answered {response.request.url.path} with HTTP "
        f"{response.status_code}, but {why}",
        provider=PROVIDER,
        status_code=response.status_code,
    )


def _completed(remote_id: str, request: SubmitRequest) -> RemoteJob:
    return RemoteJob(id=remote_id, status="completed", progress=100, seconds="0", size=request.size)


def _failed(remote_id: str, request: SubmitRequest, code: str, message: str) -> RemoteJob:
    return RemoteJob(
        id=remote_id,
        status="failed",
        seconds="0",
        size=request.size,
        error_code=code,
        error_message=message,
    )


async def _read_chunks(path: Path) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as stream:
        while chunk := await stream.read(CHUNK):
            yield chunk
