"""`FalProvider`: the provider seam over fal.ai's queue API (submit, status with logs, result, cancel)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import fal_client
import httpx
from fal_client.client import QUEUE_URL_FORMAT, AppId

from sorakit.errors import (
    ConfigurationError,
    InvalidRequestError,
    InvalidStateError,
    NotFoundError,
    ProviderBadRequestError,
    ProviderError,
    SorakitError,
)
from sorakit.providers._http import checked_chunks, content_length, read_quietly
from sorakit.providers._proxy import checked_proxy
from sorakit.providers.base import ContentVariant, Download, Provider, RemoteJob, SubmitRequest
from sorakit.providers.fal._errors import (
    PROVIDER,
    WIRE_ERRORS,
    describe,
    is_moderation,
    response_error,
    translate_error,
)
from sorakit.providers.fal._images import (
    FAL_IMAGE_MODELS,
    IMAGE_ENDPOINTS,
    ImageOutput,
    build_image_input,
    fal_image_model,
    image_output,
)
from sorakit.providers.fal._models import FAL_MODELS, build_input, check, fal_model
from sorakit.providers.fal._platform import (
    PLATFORM_URL,
    PlatformDenied,
    find_request,
    request_cost,
)
from sorakit.settings import Settings

logger = logging.getLogger(__name__)

_STEP = re.compile(r"(\d+)\s*/\s*(\d+)")
"""`step 10/50` in a log line: the only progress fal ever tells."""


@dataclass(frozen=True)
class RemoteRef:
    """Everything a remote id carries: `<endpoint>|<request_id>|<submitted unix>|<expected s>`."""

    endpoint: str
    request_id: str
    submitted_at: float | None = None
    expected_seconds: float | None = None

    def encode(self) -> str:
        """The remote id."""
        parts = [self.endpoint, self.request_id]
        if self.submitted_at is not None:
            parts.append(f"{self.submitted_at:.0f}")
            parts.append(f"{self.expected_seconds or 0:g}")
        return "|".join(parts)

    @classmethod
    def parse(cls, remote_id: str) -> RemoteRef:
        """Read a remote id; anything that is not one of ours is refused before sending."""
        parts = remote_id.split("|")
        if len(parts) not in (2, 4) or not all(parts[:2]) or "/" not in parts[0]:
            raise InvalidRequestError(
                f"{remote_id!r} is not a fal remote id (<endpoint>|<request_id>)", param="id"
            )
        if len(parts) == 2:
            return cls(parts[0], parts[1])
        try:
            submitted, expected = float(parts[2]), float(parts[3])
        except ValueError as exc:
            raise InvalidRequestError(f"{remote_id!r} is not a fal remote id", param="id") from exc
        return cls(parts[0], parts[1], submitted, expected or None)


class FalProvider(Provider):
    """fal.ai's queue API: one adapter, many models through per-model input maps (`_models`).

    Status and cancel go through fal-client's `AsyncRequestHandle` (its status parsing and
    retry policy: 408/409/429 and ingress 5xx are retried up to ten times). The submit POST and
    the result GET use the same `httpx.AsyncClient` directly: fal-client's own `AsyncClient`
    takes its queue host from a module constant read at import (`FAL_QUEUE_RUN_HOST`, always
    `https://`), so it cannot be pointed per instance at a proxy or an http loopback fake.
    A submit is never retried here, since fal has no idempotency key and a second POST is a
    second paid job.

    The remote id carries the endpoint, the request id, the submit time and the expected render
    time, so a new process reaches the same job and estimates its progress from the id alone.
    Output files are fetched from fal's media URLs without the `Authorization` header. With a
    `proxy` (`SORAKIT_PROXIES["fal"]`), both clients, so every call and download, go through it.

    fal's Platform API (`_platform`) finds a submit whose answer was lost (by its exact input,
    once fal lists it) and reads a finished request's billed cost where the key is an admin key.
    """

    name: ClassVar[str] = "fal"
    variants: ClassVar[frozenset[ContentVariant]] = frozenset({"video", "image"})

    def __init__(
        self,
        *,
        key: str,
        queue_url: str | None = None,
        api_url: str | None = None,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        proxy: str | None = None,
    ) -> None:
        proxy = checked_proxy(proxy, PROVIDER)
        base = queue_url or QUEUE_URL_FORMAT
        if not base.startswith(("http://", "https://")):
            raise ConfigurationError(f"SORAKIT_FAL_QUEUE_URL must be an http(s) URL, not {base!r}")
        self.queue_url = base.rstrip("/") + "/"
        self.api_url = (api_url or PLATFORM_URL).rstrip("/") + "/"
        self._billing = True
        """Whether to ask for billed costs; off once the key proves not to be an admin key."""
        self._clock = clock
        limits = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        user_agent = f"sorakit {fal_client.client.USER_AGENT}"
        self._client = httpx.AsyncClient(
            headers={"Authorization": f"Key {key}", "User-Agent": user_agent},
            timeout=limits,
            transport=transport,
            proxy=proxy,
        )
        self._media = httpx.AsyncClient(
            headers={"User-Agent": user_agent}, timeout=limits, transport=transport, proxy=proxy
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> FalProvider:
        """The provider for `FAL_KEY` (or `SORAKIT_FAL_KEY`), its URLs and its proxy."""
        if settings.fal_key is None:
            raise ConfigurationError(
                "the fal provider needs FAL_KEY (or SORAKIT_FAL_KEY), "
                "your fal.ai API key (`key_id:key_secret`)"
            )
        return cls(
            key=settings.fal_key.get_secret_value(),
            queue_url=settings.fal_queue_url,
            api_url=settings.fal_api_url,
            proxy=settings.proxies.get(cls.name),
        )

    def __repr__(self) -> str:
        return f"FalProvider(queue_url={self.queue_url!r})"

    async def aclose(self) -> None:
        """Close both HTTP clients."""
        await self._client.aclose()
        await self._media.aclose()

    def expected_render_seconds(self, request: SubmitRequest) -> float | None:
        """The model's usual wall time for a clip of this length (or for one image)."""
        if request.kind == "image":
            image = FAL_IMAGE_MODELS.get(request.model)
            return None if image is None else image.render_seconds
        model = FAL_MODELS.get(request.model)
        if model is None:
            return None
        return model.render_base + model.render_per_second * request.seconds

    # -- jobs --------------------------------------------------------------------------------

    async def submit(self, request: SubmitRequest) -> RemoteJob:
        """`POST {queue}/{endpoint}[?fal_webhook=]` with the model's input; the job starts `queued`."""
        endpoint, arguments = await self._input(request)
        logger.debug("fal: submit %s to %s", request.kind, endpoint)
        # fal-client's `submit(webhook_url=...)` sends the same query parameter.
        params = {"fal_webhook": request.callback_url} if request.callback_url else None
        try:
            response = await self._client.post(
                self.queue_url + endpoint, json=arguments, params=params
            )
        except WIRE_ERRORS as exc:
            raise translate_error(exc) from exc
        if not response.is_success:
            raise translate_error(response)
        request_id = _json_field(response, "request_id")
        now = self._clock()
        ref = RemoteRef(endpoint, request_id, now, self.expected_render_seconds(request))
        logger.info("fal: %s queued as %s", endpoint, request_id)
        return RemoteJob(
            id=ref.encode(),
            status="queued",
            progress=0,
            seconds=str(request.seconds),
            size=request.size,
            expected_seconds=ref.expected_seconds,
            created_at=now,
        )

    async def retrieve(self, remote_id: str) -> RemoteJob:
        """`GET …/requests/{id}/status?logs=true`, and the result once it is `COMPLETED`."""
        ref = RemoteRef.parse(remote_id)
        handle = self._handle(ref)
        try:
            state = await handle.status(with_logs=True)
        except WIRE_ERRORS as exc:
            raise translate_error(exc, lookup=ref.request_id) from exc
        except (KeyError, ValueError, TypeError) as exc:  # fal-client's parse of a strange body
            raise ProviderError(
                f"fal answered the status of {ref.request_id} outside its contract ({exc!r})",
                provider=PROVIDER,
            ) from exc
        if isinstance(state, fal_client.Queued):
            return self._job(ref, "queued", 0)
        if isinstance(state, fal_client.InProgress):
            return self._job(ref, "in_progress", self._progress(ref, state.logs))
        assert isinstance(state, fal_client.Completed)
        if state.error:
            return self._failed(ref, state.error_type, state.error)
        result = await self._result(ref)
        if isinstance(result, tuple):
            return self._failed(ref, result[1], result[0])
        if ref.endpoint in IMAGE_ENDPOINTS:
            output = image_output(result)
            if not isinstance(output, ImageOutput):
                return self._failed(ref, output[1], output[0])
        return replace(self._job(ref, "completed", 100), cost=await self._cost(ref))

    async def find(
        self, request: SubmitRequest, *, since: float, exclude: Collection[str] = ()
    ) -> RemoteJob | None:
        """A finished request on the same endpoint with exactly this input, from fal's listing.

        fal has no idempotency key, so the input JSON is the match; `exclude` keeps the ledger's
        own jobs out, which also keeps two identical requests apart.
        """
        endpoint, arguments = await self._input(request)
        owned = {RemoteRef.parse(r).request_id for r in exclude if _is_fal_id(r)}
        try:
            listed = await find_request(
                self._client,
                self.api_url,
                endpoint=endpoint,
                arguments=arguments,
                since=since,
                exclude=owned,
            )
        except PlatformDenied as exc:
            logger.warning("fal: cannot list requests to find a lost submit (%s)", exc)
            return None
        if listed is None:
            return None
        expected = self.expected_render_seconds(request)
        ref = RemoteRef(endpoint, listed.request_id, listed.sent_at or since, expected)
        logger.info("fal: found request %s of an earlier submit", listed.request_id)
        return await self.retrieve(ref.encode())

    async def cancel(self, remote_id: str) -> None:
        """`PUT …/requests/{id}/cancel`."""
        ref = RemoteRef.parse(remote_id)
        try:
            await self._handle(ref).cancel()
        except WIRE_ERRORS as exc:
            raise translate_error(exc, lookup=ref.request_id) from exc

    async def delete(self, remote_id: str) -> None:
        """Cancel the job if it still runs; fal keeps no deletable job, so a finished one is left."""
        try:
            await self.cancel(remote_id)
        except (ProviderBadRequestError, NotFoundError) as exc:
            logger.debug("fal: nothing to cancel for %s (%s)", remote_id, exc)

    # -- content -----------------------------------------------------------------------------

    @asynccontextmanager
    async def download(
        self, remote_id: str, variant: ContentVariant = "video"
    ) -> AsyncIterator[Download]:
        """Read the result for the output's URL (the video, or an image job's image), then
        stream that file."""
        ref = RemoteRef.parse(remote_id)
        wanted = "image" if ref.endpoint in IMAGE_ENDPOINTS else "video"
        if variant != wanted:
            raise InvalidRequestError(
                f"the fal provider serves only the {wanted} of this job, not a {variant}",
                param="variant",
            )
        result = await self._result(ref)
        if isinstance(result, tuple):
            raise InvalidStateError(
                f"the fal request {ref.request_id} has no {wanted}: {result[0]}"
            )
        url, media_type, known_size = self._output(ref, result)
        try:
            response = await self._media.send(self._media.build_request("GET", url), stream=True)
        except WIRE_ERRORS as exc:
            raise translate_error(exc) from exc
        try:
            if response.status_code in (403, 404, 410):
                await read_quietly(response, PROVIDER)
                raise NotFoundError(
                    f"the output of fal request {ref.request_id} is gone from its URL "
                    f"(HTTP {response.status_code}); fal's output URLs expire",
                    param="id",
                )
            if not response.is_success:
                await read_quietly(response, PROVIDER)
                raise translate_error(response)
            expected = content_length(response) or known_size
            yield Download(
                chunks=checked_chunks(response, expected, provider=PROVIDER),
                media_type=media_type,
                expected_size=expected,
                extra={"url": url.split("?")[0]},
            )
        finally:
            try:
                await response.aclose()
            except WIRE_ERRORS:
                logger.debug("fal: closing the download of %s failed", ref.request_id)

    # -- plumbing ----------------------------------------------------------------------------

    async def _input(self, request: SubmitRequest) -> tuple[str, dict[str, Any]]:
        """The endpoint and input JSON of a request: an image model's, or a video model's."""
        if request.kind == "image":
            return build_image_input(fal_image_model(request.model), request)
        model = fal_model(request.model)
        check(model, request)
        source_url = await self._source_url(request) if request.kind == "extend" else None
        return build_input(model, request, source_url=source_url)

    def _output(self, ref: RemoteRef, result: dict[str, Any]) -> tuple[str, str, int | None]:
        """The output file's URL, media type and size (if fal said) from a finished result."""
        if ref.endpoint in IMAGE_ENDPOINTS:
            output = image_output(result)
            if not isinstance(output, ImageOutput):
                raise InvalidStateError(
                    f"the fal request {ref.request_id} has no image: {output[0]}"
                )
            return output.url, output.media_type, output.size
        video = result.get("video")
        url = video.get("url") if isinstance(video, dict) else None
        if not isinstance(url, str) or not url:
            raise ProviderError(
                f"fal's result for {ref.request_id} names no video URL", provider=PROVIDER
            )
        size = video.get("file_size") if isinstance(video, dict) else None
        return url, "video/mp4", size if isinstance(size, int) and size > 0 else None

    def _urls(self, ref: RemoteRef) -> str:
        """`{queue}/{owner}/{alias}/requests/{id}`: the endpoint's sub-path is dropped."""
        try:
            app = AppId.from_endpoint_id(ref.endpoint)
        except ValueError as exc:
            raise InvalidRequestError(str(exc), param="id") from exc
        prefix = f"{app.namespace}/" if app.namespace else ""
        return f"{self.queue_url}{prefix}{app.owner}/{app.alias}/requests/{ref.request_id}"

    def _handle(self, ref: RemoteRef) -> fal_client.AsyncRequestHandle:
        base = self._urls(ref)
        return fal_client.AsyncRequestHandle(
            request_id=ref.request_id,
            response_url=base,
            status_url=base + "/status",
            cancel_url=base + "/cancel",
            client=self._client,
        )

    async def _result(self, ref: RemoteRef) -> dict[str, Any] | tuple[str, str | None]:
        """The output JSON, or `(message, error_type)` when fal answers the result with a 4xx."""
        try:
            response = await self._client.get(self._urls(ref))
        except WIRE_ERRORS as exc:
            raise translate_error(exc) from exc
        if response.is_success:
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise ProviderError(
                    f"fal's result for {ref.request_id} is not a JSON object",
                    provider=PROVIDER,
                    status_code=response.status_code,
                )
            return body
        status = response.status_code
        if status in (401, 403, 404, 408, 409, 410, 429) or status > 500:
            raise translate_error(response, lookup=ref.request_id)
        return response_error(response)  # the model's own failure: 400, 422, 500

    async def _source_url(self, request: SubmitRequest) -> str:
        """The clip to extend: a fal job's output URL, else the uploaded clip as a data URI."""
        if request.source_id is not None and _is_fal_id(request.source_id):
            source = RemoteRef.parse(request.source_id)
            result = await self._result(source)
            video = result.get("video") if isinstance(result, dict) else None
            url = video.get("url") if isinstance(video, dict) else None
            if not isinstance(url, str) or not url:
                raise InvalidStateError(
                    f"the fal request {source.request_id} has no video to extend"
                )
            return url
        if request.source_video is not None:
            clip = request.source_video
            return fal_client.encode(clip.data, clip.media_type)
        raise InvalidRequestError(
            "a fal extension needs a video made on fal or an uploaded clip", param="video"
        )

    async def _cost(self, ref: RemoteRef) -> float | None:
        """The billed USD from fal's billing events, where the key may read them."""
        if not self._billing:
            return None
        try:
            return await request_cost(
                self._client, self.api_url, request_id=ref.request_id, since=ref.submitted_at
            )
        except PlatformDenied as exc:
            self._billing = False
            logger.info("fal: billing events need an admin key (%s); costs stay estimates", exc)
        except SorakitError as exc:  # the cost is a bonus: the job itself is done
            logger.warning("fal: no billed cost for %s (%s)", ref.request_id, exc)
        return None

    def _elapsed_progress(self, ref: RemoteRef) -> int | None:
        if ref.submitted_at is None or not ref.expected_seconds:
            return None
        share = (self._clock() - ref.submitted_at) / ref.expected_seconds
        return max(1, min(99, int(share * 100)))

    def _progress(self, ref: RemoteRef, logs: list[dict[str, Any]] | None) -> int | None:
        """The last `n/m` step in the logs, else elapsed versus expected time; at most 99."""
        for entry in reversed(logs or []):
            match = _STEP.search(str(entry.get("message", "")))
            if match and int(match.group(2)) > 0:
                return max(1, min(99, int(match.group(1)) * 100 // int(match.group(2))))
        return self._elapsed_progress(ref)

    def _job(self, ref: RemoteRef, status: Any, progress: int | None) -> RemoteJob:
        return RemoteJob(
            id=ref.encode(),
            status=status,
            progress=progress,
            expected_seconds=ref.expected_seconds,
            created_at=ref.submitted_at,
        )

    def _failed(self, ref: RemoteRef, error_type: str | None, message: str) -> RemoteJob:
        code = "moderation_blocked" if is_moderation(error_type, message) else "failed"
        reason = f"{message} ({error_type})" if error_type else message
        logger.info("fal: %s failed (%s): %s", ref.request_id, code, reason)
        return RemoteJob(
            id=ref.encode(),
            status="failed",
            error_code=code,
            error_message=reason,
            expected_seconds=ref.expected_seconds,
            created_at=ref.submitted_at,
        )


def _is_fal_id(remote_id: str) -> bool:
    try:
        RemoteRef.parse(remote_id)
    except InvalidRequestError:
        return False
    return True


def _json_field(response: httpx.Response, name: str) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    value = body.get(name) if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        message, _ = describe(body, f"fal's answer has no {name}")
        raise ProviderError(message, provider=PROVIDER, status_code=response.status_code)
    return value
