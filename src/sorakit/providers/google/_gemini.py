"""`GeminiProvider`: Gemini Omni Flash on the Gemini API, through the Interactions API."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from google import genai
from google.genai import types

from sorakit.catalog.google import OMNI_FLASH, capabilities_of
from sorakit.errors import (
    ConfigurationError,
    InvalidRequestError,
    InvalidStateError,
    ProviderBadRequestError,
    ProviderError,
)
from sorakit.providers._http import checked_chunks, content_length
from sorakit.providers._proxy import checked_proxy
from sorakit.providers.base import ContentVariant, Download, Provider, RemoteJob, SubmitRequest
from sorakit.providers.google._common import (
    aspect_and_resolution,
    byte_chunks,
    check_seconds,
    decode_id,
    encode_id,
    estimated_progress,
    expected_seconds,
    is_moderation,
    parse_timestamp,
)
from sorakit.providers.google._errors import SDK_ERRORS, from_status, translate
from sorakit.settings import Settings
from sorakit.wire.videos import VideoStatus

logger = logging.getLogger(__name__)

PROVIDER = "gemini"
_IN_PROGRESS = {"in_progress", "requires_action", "requires_continuation"}
_RUNNING = {"queued", *_IN_PROGRESS}
_MAX_REFERENCES = 3
_FAILED = {"failed", "cancelled", "incomplete", "budget_exceeded"}
_GOOGLE_HOST_SUFFIX = ".googleapis.com"


class GeminiProvider(Provider):
    """Gemini Omni Flash: `interactions.create(background=True)`, then `interactions.get`.

    The remote id is `"<model>|<WxH>|<seconds>|<interaction id>"`, so a new process reaches
    the same job and knows what it asked for. Remix and edit continue the source job's
    interaction (`previous_interaction_id`, task `edit`); extend does so with task `extend`; an
    uploaded clip travels as a base64 video part. A first frame, a last frame and up to three
    reference images travel as image parts, bound by the prompt tags `<FIRST_FRAME>`,
    `<LAST_FRAME>` and `<IMAGE_REF_n>` in the order they are sent. A `callback_url` becomes the
    interaction's own `webhook_config.uris`. The video is asked for with `delivery: uri` and
    streamed from the Files API with httpx (the SDK's `files.download` reads it whole).
    Delete cancels a running interaction first. `find` stays the seam's None: the Interactions
    API has no way to list a key's interactions. SDK retries are off: the engine retries
    transient errors with the server's Retry-After. A `proxy` (`SORAKIT_PROXIES["gemini"]`)
    carries the SDK's calls (through an httpx client of ours, `sdk_client`) and the downloads.
    """

    name: ClassVar[str] = PROVIDER

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        timeout: float = 60.0,
        clock: Callable[[], float] = time.time,
        proxy: str | None = None,
    ) -> None:
        proxy = checked_proxy(proxy, PROVIDER)
        limits = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        self._sdk_http = sdk_client(proxy, limits)
        options = types.HttpOptions(
            base_url=base_url,
            timeout=int(timeout * 1000),
            retry_options=types.HttpRetryOptions(attempts=1),
            httpx_async_client=self._sdk_http,
        )
        self._client = genai.Client(api_key=api_key, http_options=options)
        self._interactions: Any = self._client.aio.interactions
        self._api_key = api_key
        self._base_url = base_url.rstrip("/") if base_url else None
        self._clock = clock
        self._http = httpx.AsyncClient(timeout=limits, proxy=proxy)

    @classmethod
    def from_settings(cls, settings: Settings) -> GeminiProvider:
        """The provider for `GEMINI_API_KEY` (or `GOOGLE_API_KEY`, `SORAKIT_GEMINI_API_KEY`)."""
        if settings.gemini_api_key is None:
            raise ConfigurationError(
                "the gemini provider needs GEMINI_API_KEY (or GOOGLE_API_KEY), "
                "a Gemini API key from https://aistudio.google.com/apikey"
            )
        return cls(
            api_key=settings.gemini_api_key.get_secret_value(),
            base_url=settings.gemini_base_url,
            proxy=settings.proxies.get(cls.name),
        )

    def __repr__(self) -> str:
        return f"GeminiProvider(base_url={self._base_url!r})"

    async def aclose(self) -> None:
        """Close the SDK's and the download client's connections."""
        await self._http.aclose()
        await self._client.aio.aclose()
        if self._sdk_http is not None:  # the SDK leaves a client it was handed to its owner
            await self._sdk_http.aclose()

    def expected_render_seconds(self, request: SubmitRequest) -> float | None:
        """Omni renders take minutes (5-15 in sync mode); the catalog holds the figure."""
        return expected_seconds(request.model, request.size, request.seconds)

    # -- jobs --------------------------------------------------------------------------------

    async def submit(self, request: SubmitRequest) -> RemoteJob:
        """`POST /{v}/interactions` with `background: true` and a video `response_format`."""
        body, total = _create_body(request)
        logger.debug(
            "gemini: %s with %s (key %s)", request.kind, request.model, request.idempotency_key
        )
        interaction = await self._call(self._interactions.create, **body)
        remote_id = encode_id(request.model, request.size, str(total), str(interaction.id))
        job = self._remote_job(remote_id, interaction)
        if request.kind == "remix":
            return replace(job, remixed_from=request.source_id)
        return job

    async def retrieve(self, remote_id: str) -> RemoteJob:
        """`GET /{v}/interactions/{id}`, mapped onto the Sora states (providers.md §1)."""
        interaction_id = _parts(remote_id)[3]
        interaction = await self._call(self._interactions.get, interaction_id)
        return self._remote_job(remote_id, interaction)

    async def delete(self, remote_id: str) -> None:
        """`POST …/{id}/cancel` while the interaction runs, then `DELETE /{v}/interactions/{id}`."""
        interaction_id = _parts(remote_id)[3]
        interaction = await self._call(self._interactions.get, interaction_id)
        if str(interaction.status) in _RUNNING:
            logger.debug("gemini: cancelling %s before deleting it", interaction_id)
            try:
                await self._call(self._interactions.cancel, interaction_id)
            except ProviderBadRequestError as exc:  # it finished in between: nothing to cancel
                logger.debug("gemini: cancel of %s refused (%s); deleting", interaction_id, exc)
        await self._call(self._interactions.delete, interaction_id)

    @asynccontextmanager
    async def download(
        self, remote_id: str, variant: ContentVariant = "video"
    ) -> AsyncIterator[Download]:
        """Stream the interaction's `output_video` (its Files API URI, or inline base64)."""
        if variant != "video":
            raise InvalidRequestError("the gemini provider serves only the video", param="variant")
        interaction = await self._call(self._interactions.get, _parts(remote_id)[3])
        video = getattr(interaction, "output_video", None)
        if interaction.status != "completed" or video is None:
            raise InvalidStateError(f"job {remote_id} has no video yet ({interaction.status})")
        media_type = getattr(video, "mime_type", None) or "video/mp4"
        if getattr(video, "data", None):
            data = base64.b64decode(video.data)
            yield Download(chunks=byte_chunks(data), media_type=media_type, expected_size=len(data))
            return
        if not getattr(video, "uri", None):
            raise ProviderError(f"gemini: job {remote_id} completed without a video URI")
        async with self._stream(str(video.uri)) as response:
            size = response.headers.get("content-length")
            if response.headers.get("content-encoding", "identity") != "identity":
                size = None  # the length is of the encoded body; the decoded one differs
            yield Download(
                chunks=checked_chunks(response, content_length(response), provider=PROVIDER),
                media_type=media_type,
                expected_size=int(size) if size and size.isdigit() else None,
            )

    # -- plumbing ----------------------------------------------------------------------------

    async def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except SDK_ERRORS as exc:
            raise translate(exc, provider=PROVIDER) from exc

    @asynccontextmanager
    async def _stream(self, uri: str) -> AsyncIterator[httpx.Response]:
        url, send_key = self._file_url(uri)
        headers = {"Accept-Encoding": "identity"}
        if send_key:
            headers["x-goog-api-key"] = self._api_key
        try:
            request = self._http.build_request("GET", url, headers=headers)
            response = await self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise translate(exc, provider=PROVIDER) from exc
        try:
            if not response.is_success:
                try:
                    await response.aread()
                except httpx.HTTPError:
                    logger.debug("gemini: the error body of a download broke off")
                message = f"the video's download URL answered HTTP {response.status_code}"
                if response.status_code == 404:
                    message += " (Files API outputs expire; it is gone)"
                raise from_status(
                    response.status_code, message, None, response.headers, provider=PROVIDER
                )
            yield response
        finally:
            await response.aclose()

    def _file_url(self, uri: str) -> tuple[str, bool]:
        """Where to fetch an output URI, and whether the API key may travel with it."""
        parts = urlsplit(uri)
        host = parts.hostname or ""
        if self._base_url and host.endswith(_GOOGLE_HOST_SUFFIX):
            query = f"?{parts.query}" if parts.query else ""
            return f"{self._base_url}{parts.path}{query}", True
        return uri, host.endswith(_GOOGLE_HOST_SUFFIX)

    def _remote_job(self, remote_id: str, interaction: Any) -> RemoteJob:
        model, size, seconds, _ = _parts(remote_id)
        created = parse_timestamp(getattr(interaction, "created", None))
        expected = expected_seconds(model, size, int(seconds))
        native = str(interaction.status)
        status: VideoStatus
        code: str | None = None
        message: str | None = None
        progress: int | None
        if native == "queued":
            status, progress = "queued", 0
        elif native in _IN_PROGRESS:
            status = "in_progress"
            progress = estimated_progress(created, self._clock(), expected)
        elif native == "completed" and getattr(interaction, "output_video", None) is not None:
            status, progress = "completed", 100
        else:
            status, progress = "failed", None
            code, message = _failure(native, interaction)
        return RemoteJob(
            id=remote_id,
            status=status,
            progress=progress,
            seconds=seconds,
            size=size,
            error_code=code,
            error_message=message,
            expected_seconds=expected,
            created_at=created,
        )


def sdk_client(proxy: str | None, timeout: httpx.Timeout) -> httpx.AsyncClient | None:
    """An httpx client through `proxy` for google-genai's async calls; None: the SDK's own.

    google-genai (3.4) sends the Interactions API through its own async httpx2 (else httpx)
    client, and `models` / `operations` through aiohttp whenever aiohttp is importable (it is
    not a dependency here, but an application may install it), which speaks no SOCKS. Handed
    `httpx_async_client`, the SDK sends both paths through this one client instead.
    """
    if proxy is None:
        return None
    return httpx.AsyncClient(proxy=proxy, timeout=timeout, follow_redirects=True)


def _parts(remote_id: str) -> list[str]:
    return decode_id(remote_id, 4, "gemini")


def _failure(native: str, interaction: Any) -> tuple[str, str]:
    """The Sora error code and the provider's own reason for a failed interaction."""
    reasons: list[str] = []
    codes: list[str] = []
    for error in getattr(interaction, "errors", None) or []:
        codes.append(str(getattr(error, "code", "") or ""))
        reasons.append(str(getattr(error, "message", "") or ""))
    for step in getattr(interaction, "steps", None) or []:
        error = getattr(step, "error", None)
        if error is not None:
            reasons.append(str(getattr(error, "message", "") or error))
    reason = "; ".join(text for text in reasons if text)
    if is_moderation(reason, *codes):
        return "moderation_blocked", reason
    if native == "completed":
        reason = reason or (
            "the interaction completed without a video (edits of uploaded videos are "
            "blocked in some regions)"
        )
    else:
        reason = reason or f"the interaction ended {native}"
    code = next((c for c in codes if c), None) or ("no_video" if native == "completed" else native)
    return code, reason


def _create_body(request: SubmitRequest) -> tuple[dict[str, Any], int]:
    """The `interactions.create` arguments for `request`, and the clip's total seconds."""
    caps = capabilities_of(request.model) or OMNI_FLASH
    aspect, resolution = aspect_and_resolution(request.size, caps.sizes)
    check_seconds(request, caps.seconds)
    if request.characters:
        raise InvalidRequestError("Gemini Omni has no characters", param="characters")
    _check_images(request)
    parts: list[dict[str, Any]] = []
    prompt = request.prompt
    total = request.seconds
    body: dict[str, Any] = {"model": request.model, "background": True}
    if request.callback_url:
        body["webhook_config"] = {"uris": [request.callback_url]}
    if request.kind == "generate":
        parts, prompt, task = _images(request)
    elif request.kind == "edit" and request.source_video is not None:
        clip = request.source_video
        parts.append({"type": "video", "data": _b64(clip.data), "mime_type": clip.media_type})
        task = "edit"
    else:
        if request.source_id is None:
            raise InvalidRequestError(f"a {request.kind} needs a source video id", param="video_id")
        source = _parts(request.source_id)
        body["previous_interaction_id"] = source[3]
        task = "extend" if request.kind == "extend" else "edit"
        if request.kind == "extend":
            total = int(source[2]) + request.seconds
    body["input"] = [*parts, {"type": "text", "text": prompt}] if parts else prompt
    body["response_format"] = {
        "type": "video",
        "aspect_ratio": aspect,
        "duration": f"{request.seconds}s",
        "resolution": resolution,
        "delivery": "uri",
    }
    body["generation_config"] = {"video_config": {"task": task}}
    return body, total


def _check_images(request: SubmitRequest) -> None:
    """Refuse image inputs Omni cannot take for this request (providers.md §2)."""
    if request.kind != "generate":
        for param, value in (
            ("input_reference", request.reference),
            ("last_frame", request.last_frame),
            ("reference_images", request.reference_images),
        ):
            if value:
                raise InvalidRequestError(
                    f"a {request.kind} on Gemini Omni takes no {param.replace('_', ' ')}",
                    param=param,
                )
    if request.last_frame is not None and request.reference is None:
        raise InvalidRequestError(
            "Gemini Omni needs a first frame (input_reference) to end on a last frame",
            param="last_frame",
        )
    if len(request.reference_images) > _MAX_REFERENCES:
        raise InvalidRequestError(
            f"Gemini Omni takes at most {_MAX_REFERENCES} reference images, "
            f"not {len(request.reference_images)}",
            param="reference_images",
        )


def _images(request: SubmitRequest) -> tuple[list[dict[str, Any]], str, str]:
    """A generation's image parts, its tagged prompt and its task, in the order the tags bind."""
    tagged = [("<FIRST_FRAME>", request.reference), ("<LAST_FRAME>", request.last_frame)]
    tagged += [(f"<IMAGE_REF_{n}>", ref) for n, ref in enumerate(request.reference_images)]
    parts: list[dict[str, Any]] = []
    tags: list[str] = []
    for tag, image in tagged:
        if image is not None:
            parts.append({"type": "image", "data": _b64(image.data), "mime_type": image.media_type})
            tags.append(tag)
    if request.reference is not None:
        task = "image_to_video"
    elif request.reference_images:
        task = "reference_to_video"
    else:
        task = "text_to_video"
    prompt = " ".join([*tags, request.prompt])
    return parts, prompt, task


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
