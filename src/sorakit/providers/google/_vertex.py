"""`VertexVeoProvider`: Veo 3.1 on Vertex AI, through `models.generate_videos` and `operations.get`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import google.auth
import google.auth.credentials
import google.auth.exceptions
import google.auth.transport
import google.auth.transport.requests
import httpx
from google import genai
from google.genai import types
from google.oauth2.credentials import Credentials

from sorakit.catalog.google import VEO_3_1, capabilities_of
from sorakit.errors import (
    ConfigurationError,
    InvalidRequestError,
    InvalidStateError,
    ProviderAuthError,
    ProviderConnectionError,
    ProviderError,
)
from sorakit.providers._proxy import checked_proxy
from sorakit.providers.base import (
    ContentVariant,
    Download,
    Provider,
    ReferenceImage,
    RemoteJob,
    SubmitRequest,
)
from sorakit.providers.google._common import (
    aspect_and_resolution,
    byte_chunks,
    check_seconds,
    decode_id,
    encode_id,
    estimated_progress,
    expected_seconds,
    is_moderation,
)
from sorakit.providers.google._errors import SDK_ERRORS, translate
from sorakit.providers.google._gcs import GcsReader, check_output_uri
from sorakit.providers.google._gemini import sdk_client
from sorakit.settings import Settings

logger = logging.getLogger(__name__)

PROVIDER = "vertex"
_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
_MAX_REFERENCES = 3
_CREDENTIALS_HINT = (
    "set SORAKIT_VERTEX_ACCESS_TOKEN, or Application Default Credentials "
    "(GOOGLE_APPLICATION_CREDENTIALS or `gcloud auth application-default login`)"
)


class VertexVeoProvider(Provider):
    """Veo 3.1 on Vertex AI: `:predictLongRunning`, then `:fetchPredictOperation` until done.

    The remote id is `"<WxH>|<seconds>|<submitted unix time>|<operation name>"`; the operation
    name holds the project, region and model, so follow-up calls go to the region and model
    that created the job, even from a new process. With `output_gcs_uri` (`gs://bucket/prefix/`)
    it is sent as `storageUri` and the finished operation names the video's `gs://` object,
    which is streamed from Cloud Storage with the same OAuth token; without it the video comes
    back inline (base64, decoded by the SDK) and is handed on in chunks. Which of the two a job
    used is read from its operation, so a restart with other settings still downloads it.
    A reference image is the first frame, `last_frame` the last (`lastFrame`), and
    `reference_images` are `ASSET` references; extend sends the source job's video with the
    seconds to add. Veo has no remix or edit of a finished video. `callback_url` is not sent:
    Vertex takes no per-request URL (the SDK refuses `webhook_config` there, and `pubsub_topic`
    names a Pub/Sub topic), so jobs are polled. Nor is there a `find`: Vertex has no listing
    of a model's operations, only `fetchPredictOperation` by name.

    A `proxy` (`SORAKIT_PROXIES["vertex"]`) carries the SDK's calls, the Cloud Storage reads and
    the OAuth token refreshes: the token is refreshed here, through it, before each SDK call, so
    the SDK (whose own refresh would go direct) always finds it fresh.
    """

    name: ClassVar[str] = PROVIDER

    def __init__(
        self,
        *,
        project: str,
        location: str = "us-central1",
        access_token: str | None = None,
        base_url: str | None = None,
        output_gcs_uri: str | None = None,
        gcs_base_url: str | None = None,
        timeout: float = 120.0,
        clock: Callable[[], float] = time.time,
        proxy: str | None = None,
    ) -> None:
        self._proxy = checked_proxy(proxy, PROVIDER)
        self.project = project
        self.location = location
        self.output_gcs_uri = check_output_uri(output_gcs_uri) if output_gcs_uri else None
        self._access_token = access_token
        self._base_url = base_url
        self._timeout = timeout
        self._clock = clock
        self._clients: dict[str, genai.Client] = {}
        self._credentials: google.auth.credentials.Credentials | None = None
        self._gcs = GcsReader(
            provider=PROVIDER, base_url=gcs_base_url, timeout=timeout, proxy=self._proxy
        )
        self._sdk_http = sdk_client(self._proxy, httpx.Timeout(timeout, connect=min(timeout, 10.0)))

    @classmethod
    def from_settings(cls, settings: Settings) -> VertexVeoProvider:
        """The provider for `GOOGLE_CLOUD_PROJECT` (or `SORAKIT_VERTEX_PROJECT`) and its region."""
        if not settings.vertex_project:
            raise ConfigurationError(
                "the vertex provider needs GOOGLE_CLOUD_PROJECT (or SORAKIT_VERTEX_PROJECT), "
                "the Google Cloud project that runs Veo"
            )
        token = settings.vertex_access_token
        return cls(
            project=settings.vertex_project,
            location=settings.vertex_location,
            access_token=token.get_secret_value() if token is not None else None,
            base_url=settings.vertex_base_url,
            output_gcs_uri=settings.vertex_output_gcs_uri,
            gcs_base_url=settings.gcs_base_url,
            proxy=settings.proxies.get(cls.name),
        )

    def __repr__(self) -> str:
        return f"VertexVeoProvider(project={self.project!r}, location={self.location!r})"

    async def aclose(self) -> None:
        """Close every regional client's and the Cloud Storage reader's connections."""
        for client in self._clients.values():
            await client.aio.aclose()
        self._clients.clear()
        await self._gcs.aclose()
        if self._sdk_http is not None:  # the SDK leaves a client it was handed to its owner
            await self._sdk_http.aclose()

    def expected_render_seconds(self, request: SubmitRequest) -> float | None:
        """Veo takes one to a few minutes; the catalog holds the figure."""
        return expected_seconds(request.model, request.size, request.seconds)

    # -- jobs --------------------------------------------------------------------------------

    async def submit(self, request: SubmitRequest) -> RemoteJob:
        """`POST …/publishers/google/models/{model}:predictLongRunning`."""
        source, config, total = await self._source_and_config(request)
        client = self._client(self.location)
        logger.debug(
            "vertex: %s with %s (key %s)", request.kind, request.model, request.idempotency_key
        )
        await self._token()
        operation = await self._call(
            client.aio.models.generate_videos, model=request.model, source=source, config=config
        )
        if not operation.name:
            raise ProviderError("vertex: predictLongRunning answered without an operation name")
        now = self._clock()
        remote_id = encode_id(request.size, str(total), f"{now:.3f}", operation.name)
        return RemoteJob(
            id=remote_id,
            status="queued",
            progress=0,
            seconds=str(total),
            size=request.size,
            expected_seconds=expected_seconds(request.model, request.size, request.seconds),
            created_at=now,
        )

    async def retrieve(self, remote_id: str) -> RemoteJob:
        """`POST …:fetchPredictOperation`, mapped onto the Sora states (providers.md §1)."""
        size, seconds, submitted, name = decode_id(remote_id, 4, "vertex")
        operation = await self._operation(name)
        model = _model_of(name)
        expected = expected_seconds(model, size, int(seconds))
        started = float(submitted)
        common: dict[str, Any] = {
            "id": remote_id,
            "seconds": seconds,
            "size": size,
            "expected_seconds": expected,
            "created_at": started,
        }
        if not operation.done:
            progress = estimated_progress(started, self._clock(), expected)
            return RemoteJob(status="in_progress", progress=progress, **common)
        if operation.error:
            message = str(operation.error.get("message") or operation.error)
            code = "moderation_blocked" if is_moderation(message) else "failed"
            return RemoteJob(status="failed", error_code=code, error_message=message, **common)
        response = operation.response
        if response is not None and response.generated_videos:
            return RemoteJob(status="completed", progress=100, **common)
        reasons = "; ".join(response.rai_media_filtered_reasons or []) if response else ""
        if response is not None and (response.rai_media_filtered_count or reasons):
            reason = reasons or "Veo's safety filters removed every video"
            return RemoteJob(
                status="failed", error_code="moderation_blocked", error_message=reason, **common
            )
        message = "the operation finished without a video"
        return RemoteJob(status="failed", error_code="no_video", error_message=message, **common)

    @asynccontextmanager
    async def download(
        self, remote_id: str, variant: ContentVariant = "video"
    ) -> AsyncIterator[Download]:
        """The finished operation's first video: streamed from Cloud Storage, or inline bytes."""
        if variant != "video":
            raise InvalidRequestError("the vertex provider serves only the video", param="variant")
        video = await self._video(decode_id(remote_id, 4, "vertex")[3])
        media_type = video.mime_type or "video/mp4"
        if not video.video_bytes:
            if not video.uri or not video.uri.startswith("gs://"):
                raise ProviderError(f"vertex: the operation of {remote_id} names no video")
            token = await self._token()
            async with self._gcs.stream(video.uri, token, media_type) as download:
                yield download
            return
        data = video.video_bytes
        yield Download(chunks=byte_chunks(data), media_type=media_type, expected_size=len(data))

    # -- plumbing ----------------------------------------------------------------------------

    async def _source_and_config(
        self, request: SubmitRequest
    ) -> tuple[types.GenerateVideosSource, types.GenerateVideosConfig, int]:
        caps = capabilities_of(request.model) or VEO_3_1
        aspect, resolution = aspect_and_resolution(request.size, caps.sizes)
        check_seconds(request, caps.seconds)
        if request.kind in ("remix", "edit"):
            raise InvalidRequestError(
                f"Veo 3.1 on Vertex cannot {request.kind} a video; extend it, or generate anew "
                "with its last frame as the reference",
                param="model",
            )
        if request.characters:
            raise InvalidRequestError("Veo has no characters", param="characters")
        source = types.GenerateVideosSource(prompt=request.prompt)
        total = request.seconds
        if request.kind == "extend":
            if request.reference is not None:
                raise InvalidRequestError(
                    "an extension takes no reference image", param="input_reference"
                )
            if request.source_video is not None:
                clip = request.source_video
                source.video = types.Video(video_bytes=clip.data, mime_type=clip.media_type)
            elif request.source_id is not None:
                _, source_seconds, _, name = decode_id(request.source_id, 4, "vertex")
                source.video = await self._video(name)
                total += int(source_seconds)
            else:
                raise InvalidRequestError("an extension needs a source video id", param="video")
        elif request.reference is not None:
            source.image = _image(request.reference)
        config = types.GenerateVideosConfig(
            number_of_videos=1,
            duration_seconds=request.seconds,
            aspect_ratio=aspect,
            resolution=resolution,
            generate_audio=caps.audio,
            output_gcs_uri=self.output_gcs_uri,
        )
        _frames_and_references(request, config, aspect)
        return source, config, total

    def _auth(self) -> google.auth.credentials.Credentials:
        """The OAuth credentials Vertex and Cloud Storage share: the token, else ADC."""
        if self._credentials is None:
            if self._access_token:
                self._credentials = Credentials(token=self._access_token)  # type: ignore[no-untyped-call]
            else:
                try:
                    self._credentials, _ = google.auth.default(scopes=_SCOPES)
                except google.auth.exceptions.DefaultCredentialsError as exc:
                    raise ConfigurationError(
                        f"the vertex provider has no credentials: {_CREDENTIALS_HINT}"
                    ) from exc
        return self._credentials

    async def _token(self) -> str:
        """A live bearer token for Cloud Storage, refreshed off the event loop when stale."""
        credentials = self._auth()
        if credentials.expired or not credentials.token:
            request: google.auth.transport.Request = (
                _ProxiedAuthRequest(self._proxy, self._timeout)
                if self._proxy
                else google.auth.transport.requests.Request()
            )
            await self._call(asyncio.to_thread, credentials.refresh, request)
        if not credentials.token:
            raise ConfigurationError(f"the vertex credentials give no token; {_CREDENTIALS_HINT}")
        return str(credentials.token)

    def _client(self, location: str) -> genai.Client:
        """One SDK client per region (a job is always followed up in its own region)."""
        if location not in self._clients:
            credentials = self._auth()
            options = types.HttpOptions(
                base_url=self._base_url,
                timeout=int(self._timeout * 1000),
                retry_options=types.HttpRetryOptions(attempts=1),
                httpx_async_client=self._sdk_http,
            )
            try:
                self._clients[location] = genai.Client(
                    vertexai=True,
                    project=self.project,
                    location=location,
                    credentials=credentials,
                    http_options=options,
                )
            except google.auth.exceptions.DefaultCredentialsError as exc:
                raise ConfigurationError(
                    f"the vertex provider has no credentials: {_CREDENTIALS_HINT}"
                ) from exc
        return self._clients[location]

    async def _operation(self, name: str) -> types.GenerateVideosOperation:
        client = self._client(_location_of(name))
        operation = types.GenerateVideosOperation.model_validate({"name": name})
        await self._token()
        result: types.GenerateVideosOperation = await self._call(
            client.aio.operations.get, operation
        )
        return result

    async def _video(self, name: str) -> types.Video:
        """The first video of a finished operation; anything else is the wrong state."""
        operation = await self._operation(name)
        response = operation.response
        videos = response.generated_videos if response is not None else None
        if not operation.done or not videos or videos[0].video is None:
            raise InvalidStateError(f"the Veo operation {name} has no video")
        return videos[0].video

    async def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except google.auth.exceptions.DefaultCredentialsError as exc:
            raise ConfigurationError(
                f"the vertex provider has no usable credentials ({exc}); {_CREDENTIALS_HINT}"
            ) from exc
        except google.auth.exceptions.TransportError as exc:
            raise ProviderConnectionError(
                f"vertex: refreshing the access token failed ({exc})", provider=PROVIDER
            ) from exc
        except google.auth.exceptions.GoogleAuthError as exc:
            raise ProviderAuthError(
                f"vertex: the credentials were refused ({exc})", provider=PROVIDER
            ) from exc
        except SDK_ERRORS as exc:
            raise translate(exc, provider=PROVIDER) from exc


class _ProxiedAuthRequest(google.auth.transport.Request):
    """google-auth's token requests over httpx, through the provider's proxy (SOCKS5 too)."""

    def __init__(self, proxy: str, timeout: float) -> None:
        self._proxy = proxy
        self._timeout = timeout

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **_: Any,
    ) -> google.auth.transport.Response:
        try:
            with httpx.Client(proxy=self._proxy, timeout=timeout or self._timeout) as client:
                response = client.request(method, url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise google.auth.exceptions.TransportError(  # type: ignore[no-untyped-call]
                f"{type(exc).__name__}: {exc}"
            ) from exc
        return _AuthResponse(response)


class _AuthResponse(google.auth.transport.Response):
    """An httpx answer as google-auth reads one."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    @property
    def data(self) -> bytes:
        return self._response.content


def _image(ref: ReferenceImage) -> types.Image:
    return types.Image(image_bytes=ref.data, mime_type=ref.media_type)


def _frames_and_references(
    request: SubmitRequest, config: types.GenerateVideosConfig, aspect: str
) -> None:
    """`lastFrame` and `referenceImages`, refused where Veo cannot honour them (§3.3)."""
    if request.last_frame is not None:
        if request.kind != "generate":
            raise InvalidRequestError(
                f"a Veo {request.kind} takes no last frame", param="last_frame"
            )
        if request.reference is None:
            raise InvalidRequestError(
                "Veo needs a first frame (input_reference) to end on a last frame",
                param="last_frame",
            )
        config.last_frame = _image(request.last_frame)
    refs = request.reference_images
    if not refs:
        return
    problem = None
    if request.kind != "generate":
        problem = f"a {request.kind} takes no reference images"
    elif len(refs) > _MAX_REFERENCES:
        problem = f"at most {_MAX_REFERENCES} reference images, not {len(refs)}"
    elif request.reference is not None:
        problem = "reference images are ignored when a first frame is given"
    elif request.seconds != 8 or aspect != "16:9":
        problem = "reference images need an 8-second 16:9 video"
    if problem is not None:
        raise InvalidRequestError(f"Veo: {problem}", param="reference_images")
    config.reference_images = [
        types.VideoGenerationReferenceImage(
            image=_image(ref), reference_type=types.VideoGenerationReferenceType.ASSET
        )
        for ref in refs
    ]


def _location_of(name: str) -> str:
    """`projects/p/locations/us-central1/...` -> `us-central1`."""
    parts = name.split("/")
    try:
        return parts[parts.index("locations") + 1]
    except (ValueError, IndexError):
        raise InvalidRequestError(f"{name!r} is not a Vertex operation name") from None


def _model_of(name: str) -> str:
    """`…/models/veo-3.1-generate-001/operations/x` -> `veo-3.1-generate-001`."""
    parts = name.split("/")
    try:
        return parts[parts.index("models") + 1]
    except (ValueError, IndexError):
        return ""
