"""`RunwayProvider`: Runway's task API through the official `runwayml` SDK (`AsyncRunwayML`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import httpx
import runwayml
from runwayml.types.task_retrieve_response import (
    Cancelled,
    Failed,
    Pending,
    Running,
    Succeeded,
    TaskRetrieveResponse,
    Throttled,
)

from sorakit.catalog.runway import USD_PER_CREDIT
from sorakit.errors import (
    ConfigurationError,
    InvalidRequestError,
    InvalidStateError,
    NotFoundError,
    ProviderError,
)
from sorakit.providers._http import checked_chunks, content_length, read_quietly
from sorakit.providers._proxy import checked_proxy
from sorakit.providers.base import ContentVariant, Download, Provider, RemoteJob, SubmitRequest
from sorakit.providers.runway._errors import (
    HTTPX_ERRORS,
    PROVIDER,
    SDK_ERRORS,
    from_response,
    translate,
)
from sorakit.providers.runway._requests import (
    RemoteId,
    create_call,
    model_spec,
    video_data_uri,
)
from sorakit.settings import Settings
from sorakit.wire.videos import VideoStatus

logger = logging.getLogger(__name__)

RUNWAY_VERSION = "2024-11-06"
"""The `X-Runway-Version` the SDK sends (runwayml 5.24.0's default)."""
SAFETY_MARK = "SAFETY"
"""Runway failure codes with a `SAFETY` part (`SAFETY.INPUT.TEXT`, ...) are content filters."""
_EXPIRED_STATUSES = (401, 403, 404, 410)
"""What an expired signed output URL answers."""


class RunwayProvider(Provider):
    """Runway's API (its own Gen-4 models and the vendors it routes: Veo, Kling, Seedance, Omni).

    Creates go to `/v1/text_to_video` (subject/style images in `references`),
    `/v1/image_to_video` (the reference image is the first frame and `last_frame` the last, as
    data URIs) or `/v1/video_to_video` (Omni's extend and edit); state
    comes from `GET /v1/tasks/{id}` and `delete` is `DELETE /v1/tasks/{id}`, all through
    `AsyncRunwayML`, which sends the Bearer secret and `X-Runway-Version`. The SDK's own
    retries are off by default (`max_retries=0`): Runway takes no idempotency key, so a retried
    create could pay twice, and the engine already retries with Retry-After and backoff.

    Outputs are signed URLs that expire; `download` fetches the task again for a fresh URL and
    streams it with a separate client that never sends the Runway secret. `RemoteJob.cost` is
    the task's final `cost.credits` at $0.01 a credit (0 for a failed or cancelled task).
    A `proxy` (`SORAKIT_PROXIES["runway"]`) carries both clients: the SDK is handed one.

    Runway's API (runwayml 5.24.0) has no per-task webhook, so `callback_url` is not sent and
    tracking polls; and a key cannot list its tasks (only `tasks.retrieve` / `tasks.delete`),
    so `find` keeps the base's None: a create whose answer was lost cannot be found again.
    """

    name: ClassVar[str] = PROVIDER

    def __init__(
        self,
        *,
        api_secret: str,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 0,
        transport: httpx.AsyncBaseTransport | None = None,
        proxy: str | None = None,
    ) -> None:
        proxy = checked_proxy(proxy, PROVIDER)
        if not api_secret:
            raise ConfigurationError(
                "the runway provider needs RUNWAYML_API_SECRET (or SORAKIT_RUNWAY_API_SECRET)"
            )
        limits = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        self._client = runwayml.AsyncRunwayML(
            api_key=api_secret,
            base_url=base_url,
            timeout=limits,
            max_retries=max_retries,
            runway_version=RUNWAY_VERSION,
            # The SDK's own defaults (pool limits, redirects), plus the test transport or proxy.
            http_client=runwayml.DefaultAsyncHttpxClient(
                transport=transport, timeout=limits, proxy=proxy
            )
            if transport is not None or proxy is not None
            else None,
        )
        self._downloads = httpx.AsyncClient(
            transport=transport, timeout=limits, follow_redirects=True, proxy=proxy
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> RunwayProvider:
        """The provider for `RUNWAYML_API_SECRET`, `runway_base_url` and its proxy."""
        secret = settings.runway_api_secret
        if secret is None or not secret.get_secret_value():
            raise ConfigurationError(
                "the runway provider needs RUNWAYML_API_SECRET (or SORAKIT_RUNWAY_API_SECRET), "
                "a Runway API secret from dev.runwayml.com"
            )
        return cls(
            api_secret=secret.get_secret_value(),
            base_url=settings.runway_base_url,
            proxy=settings.proxies.get(cls.name),
        )

    def __repr__(self) -> str:
        return f"RunwayProvider(base_url={str(self._client.base_url)!r})"

    async def aclose(self) -> None:
        """Close the SDK client and the download client."""
        await self._client.close()
        await self._downloads.aclose()

    # -- jobs --------------------------------------------------------------------------------

    async def submit(self, request: SubmitRequest) -> RemoteJob:
        """Create the task on the endpoint the request needs; the first state is `queued`."""
        spec = model_spec(request.model)
        source_uri = await self._source_uri(request) if request.kind in spec.video_modes else None
        call = create_call(request, spec, source_uri=source_uri)
        resource: Any = getattr(self._client, call.endpoint)
        logger.debug("runway: %s %s (model %s)", request.kind, call.endpoint, spec.model)
        try:
            created = await resource.create(**call.params)
        except SDK_ERRORS as exc:
            raise translate(exc) from exc
        remote = RemoteId(spec.model, request.size, request.seconds, created.id)
        logger.info("runway: created task %s (%s)", created.id, spec.model)
        return RemoteJob(
            id=str(remote),
            status="queued",
            progress=0,
            seconds=str(request.seconds),
            size=request.size,
            expected_seconds=self.expected_render_seconds(request),
        )

    async def retrieve(self, remote_id: str) -> RemoteJob:
        """`GET /v1/tasks/{id}`, mapped onto the Sora states (providers.md §1)."""
        remote = RemoteId.parse(remote_id)
        task = await self._task(remote.task_id)
        return self._remote_job(remote_id, remote, task)

    async def delete(self, remote_id: str) -> None:
        """`DELETE /v1/tasks/{id}`: cancels a running task or deletes a finished one."""
        remote = RemoteId.parse(remote_id)
        try:
            await self._client.tasks.delete(remote.task_id)
        except SDK_ERRORS as exc:
            raise translate(exc, lookup=True) from exc

    def expected_render_seconds(self, request: SubmitRequest) -> float | None:
        """The catalog's estimate for the model and the clip's length."""
        try:
            spec = model_spec(request.model)
        except InvalidRequestError:
            return None
        return spec.render_base + spec.render_per_second * request.seconds

    # -- content -----------------------------------------------------------------------------

    @asynccontextmanager
    async def download(
        self, remote_id: str, variant: ContentVariant = "video"
    ) -> AsyncIterator[Download]:
        """Stream the task's output from a freshly signed URL (one retry if it has expired)."""
        if variant != "video":
            raise InvalidRequestError(
                f"Runway serves only the video, not a {variant}", param="variant"
            )
        remote = RemoteId.parse(remote_id)
        response: httpx.Response | None = None
        for attempt in range(2):
            url = await self._output_url(remote.task_id)
            try:
                request = self._downloads.build_request(
                    "GET", url, headers={"Accept-Encoding": "identity"}
                )
                response = await self._downloads.send(request, stream=True)
            except HTTPX_ERRORS as exc:
                raise translate(exc) from exc
            if response.is_success:
                break
            await read_quietly(response, PROVIDER)
            await response.aclose()
            if response.status_code not in _EXPIRED_STATUSES or attempt == 1:
                raise from_response(response)
            logger.info("runway: the output URL of %s expired; asking for a fresh one", remote)
        assert response is not None
        try:
            expected = content_length(response)
            yield Download(
                chunks=checked_chunks(response, expected, provider=PROVIDER),
                media_type="video/mp4",
                expected_size=expected,
            )
        finally:
            try:
                await response.aclose()
            except HTTPX_ERRORS:
                logger.debug("runway: closing the download of %s failed", remote.task_id)

    # -- plumbing ----------------------------------------------------------------------------

    async def _task(self, task_id: str) -> TaskRetrieveResponse:
        try:
            return await self._client.tasks.retrieve(task_id)
        except SDK_ERRORS as exc:
            raise translate(exc, lookup=True) from exc

    async def _output_url(self, task_id: str) -> str:
        task = await self._task(task_id)
        if not isinstance(task, Succeeded):
            raise InvalidStateError(
                f"the Runway task {task_id} is {task.status}, not SUCCEEDED; it has no video yet"
            )
        if not task.output:
            raise ProviderError(
                f"the Runway task {task_id} succeeded without an output URL", provider=PROVIDER
            )
        return task.output[0]

    async def _source_uri(self, request: SubmitRequest) -> str | None:
        """The source clip of an extend or edit: an uploaded clip, else a Runway job's output."""
        if request.source_video is not None:
            clip = request.source_video
            return video_data_uri(clip.data, clip.media_type)
        if request.source_id is None:
            return None
        try:
            return await self._output_url(RemoteId.parse(request.source_id).task_id)
        except (NotFoundError, InvalidStateError) as exc:
            raise InvalidRequestError(
                f"the source video {request.source_id!r} is not a finished Runway job ({exc})",
                param="video",
            ) from exc

    def _remote_job(
        self, remote_id: str, remote: RemoteId, task: TaskRetrieveResponse
    ) -> RemoteJob:
        status: VideoStatus
        progress: int | None = None
        code: str | None = None
        message: str | None = None
        cost: float | None = None
        if isinstance(task, Pending | Throttled):
            status, progress = "queued", 0
        elif isinstance(task, Running):
            status, progress = "in_progress", min(99, max(0, round(task.progress * 100)))
        elif isinstance(task, Succeeded):
            status, progress = "completed", 100
            cost = task.cost.credits * USD_PER_CREDIT
        elif isinstance(task, Failed):
            status = "failed"
            code, message = _failure(task)
            cost = task.cost.credits * USD_PER_CREDIT
        elif isinstance(task, Cancelled):
            status, code = "failed", "cancelled"
            message = "the task was cancelled or deleted on Runway"
            cost = task.cost.credits * USD_PER_CREDIT
        else:  # pragma: no cover - the SDK's union is closed
            raise ProviderError(f"Runway answered an unknown task state: {task!r}")
        return RemoteJob(
            id=remote_id,
            status=status,
            progress=progress,
            seconds=str(remote.seconds) if remote.seconds else None,
            size=remote.size or None,
            error_code=code,
            error_message=message,
            expected_seconds=_expected(remote),
            cost=round(cost, 6) if cost is not None else None,
            created_at=task.created_at.timestamp(),
        )


def _failure(task: Failed) -> tuple[str, str]:
    """`moderation_blocked` for a safety code, else the failure code itself; the text is kept."""
    raw = task.failure_code or ""
    reason = task.failure or "Runway gave no reason"
    message = f"{reason} ({raw})" if raw else reason
    if SAFETY_MARK in raw.upper().split("."):
        return "moderation_blocked", message
    return (raw or "failed"), message


def _expected(remote: RemoteId) -> float | None:
    try:
        spec = model_spec(remote.model) if remote.model else None
    except InvalidRequestError:
        spec = None
    if spec is None or not remote.seconds:
        return None
    return spec.render_base + spec.render_per_second * remote.seconds
