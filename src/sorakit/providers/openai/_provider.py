"""`OpenAIProvider`: the provider seam spoken over `/v1/videos` with one `httpx.AsyncClient`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import httpx
import pydantic

from sorakit.errors import (
    ConfigurationError,
    InvalidRequestError,
    ProviderBadRequestError,
    ProviderError,
)
from sorakit.providers._http import checked_chunks, content_length, read_quietly
from sorakit.providers._proxy import checked_proxy
from sorakit.providers.base import (
    EXPECTED_SECONDS_HEADER,
    Character,
    ContentVariant,
    Download,
    Provider,
    RemoteJob,
    SourceVideo,
    SubmitRequest,
)
from sorakit.providers.openai._answers import (
    failed_job_body,
    normalize_deleted,
    normalize_list,
    normalize_video,
)
from sorakit.providers.openai._bodies import Body, FormBodies, matches, path_segment, submit_body
from sorakit.providers.openai._errors import HTTPX_ERRORS, JSON_REFUSED, PROVIDER, translate_error
from sorakit.providers.openai._images import OpenAIImages, is_spool_id
from sorakit.settings import Settings, default_home
from sorakit.wire.videos import (
    CONTENT_TYPES,
    Video,
    VideoCharacter,
    VideoDeleted,
    VideoList,
)

logger = logging.getLogger(__name__)

_Model = TypeVar("_Model", bound=pydantic.BaseModel)

FIND_WINDOW_SECONDS = 120.0
"""How far before `since` a lost create's job may carry its `created_at` (clock skew, queueing)."""
FIND_MAX_PAGES = 20
"""`find` reads at most this many pages of 100 videos."""
_CLAIMED_MAX = 10_000
"""How many job ids handed out by `submit` or `find` are remembered, so `find` skips them."""


def _user_agent() -> str:
    try:
        return f"sorakit/{version('sorakit')}"
    except PackageNotFoundError:
        return "sorakit/0+unknown"


class OpenAIProvider(Provider):
    """Any server that speaks the OpenAI Videos API: another `sorakit serve`, a reseller, a proxy.

    Every call goes through one long-lived `httpx.AsyncClient` (pass `transport` to test it
    against a fake, `proxy` to send it through `SORAKIT_PROXIES["openai"]`), with
    `Authorization: Bearer`, the optional `OpenAI-Organization` / `OpenAI-Project` headers and
    `User-Agent: sorakit/<version>`. Creates always carry the
    request's `Idempotency-Key`. Every failure leaves as a `sorakit.errors` error (see
    `sorakit.providers.openai._errors` for the table); no httpx exception escapes.

    Lookups by id (`retrieve`, `download`, `delete`, `retrieve_character`) raise `NotFoundError`
    on 404/410 and `InvalidStateError` on 409; creates raise `ProviderBadRequestError` on 404,
    since there it means a wrong model, path or base URL rather than a missing object.

    Image jobs (`kind="image"`) go to the Images API (`/images/generations`, `/images/edits`)
    through `OpenAIImages`, which spools each paid image under `spool_dir` (see `_images`).
    """

    name: ClassVar[str] = "openai"
    variants: ClassVar[frozenset[ContentVariant]] = frozenset(
        {"video", "thumbnail", "spritesheet", "image"}
    )

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        organization: str | None = None,
        project: str | None = None,
        proxy: str | None = None,
        spool_dir: Path | None = None,
        form_bodies: FormBodies = "auto",
    ) -> None:
        url = _checked_base_url(base_url)
        proxy = checked_proxy(proxy, PROVIDER)
        headers = {"User-Agent": _user_agent()}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        if organization:
            headers["OpenAI-Organization"] = organization
        if project:
            headers["OpenAI-Project"] = project
        self.base_url = str(url)
        self._claimed: dict[str, None] = {}
        self._forms = form_bodies == "always"
        self._client = httpx.AsyncClient(
            base_url=url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            proxy=proxy,
        )
        # Image URLs point at a storage host: fetched without our credential.
        media = httpx.AsyncClient(
            headers={"User-Agent": headers["User-Agent"]},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            proxy=proxy,
        )
        spool = spool_dir or default_home() / "assets" / "spool" / "openai-images"
        self._images = OpenAIImages(api=self._client, media=media, spool=spool)
        if url.host == "api.openai.com":
            logger.warning(
                "api.openai.com stopped serving /v1/videos on 2026-09-24; "
                "point OPENAI_BASE_URL at a server that still speaks it"
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIProvider:
        """The provider for `OPENAI_BASE_URL` and `OPENAI_API_KEY` (or their `SORAKIT_` names)."""
        if not settings.openai_base_url:
            raise ConfigurationError(
                "the openai provider needs OPENAI_BASE_URL (or SORAKIT_OPENAI_BASE_URL), "
                "the base URL of a /v1/videos server, e.g. http://127.0.0.1:8000/v1"
            )
        key = settings.openai_api_key
        kind = VideoOnlyOpenAIProvider if settings.openai_video_only else cls
        return kind(
            base_url=settings.openai_base_url,
            api_key=key.get_secret_value() if key is not None else None,
            proxy=settings.proxies.get(cls.name),
            spool_dir=settings.assets_dir / "spool" / "openai-images",
            form_bodies=settings.openai_form_bodies,
        )

    def __repr__(self) -> str:
        return f"OpenAIProvider(base_url={self.base_url!r})"

    async def aclose(self) -> None:
        """Close the HTTP clients and their connections."""
        await self._client.aclose()
        await self._images.aclose()

    # -- jobs --------------------------------------------------------------------------------

    async def submit(self, request: SubmitRequest) -> RemoteJob:
        """Create the job: `POST /videos`, `/videos/{id}/remix`, `/videos/extensions` or `/edits`
        (an image: `POST /images/generations` or `/images/edits`, answered at once)."""
        if request.kind == "image":
            return await self._images.submit(request)
        body: Body = submit_body(request)
        logger.debug(
            "openai: %s %s (model %s, idempotency key %s)",
            request.kind,
            body.path,
            request.model,
            request.idempotency_key,
        )
        headers = {"Idempotency-Key": request.idempotency_key}
        try:
            response = await self._send(
                "POST", body.path, headers=headers, **body.httpx_kwargs(form=self._forms)
            )
        except ProviderBadRequestError as exc:
            if self._forms or body.files or exc.code != JSON_REFUSED:
                raise
            # A 415, or FastAPI's 422 for missing body fields, is a refusal before the handler
            # ran: nothing was created, so sending the same body (same Idempotency-Key) as a
            # form cannot make a second job. The server is remembered as form-only.
            logger.info("openai: %s reads forms only; sending forms from now on", self.base_url)
            self._forms = True
            response = await self._send(
                "POST", body.path, headers=headers, **body.httpx_kwargs(form=True)
            )
        job = _remote_job(self._parse_video(response), response)
        self._claim(job.id)
        return job

    async def retrieve(self, remote_id: str) -> RemoteJob:
        """`GET /videos/{id}`, with the server's `openai-poll-after-ms` hint as `poll_after`."""
        if is_spool_id(remote_id):
            return await self._images.retrieve(remote_id)
        path = f"/videos/{path_segment(remote_id, 'video_id')}"
        # Some servers answer a failed job with an error status and the job as the body.
        response = await self._send("GET", path, lookup="video_id", keep=failed_job_body)
        return _remote_job(self._parse_video(response), response)

    async def delete(self, remote_id: str) -> None:
        """`DELETE /videos/{id}` (an image job: drop its spooled file)."""
        if is_spool_id(remote_id):
            await self._images.delete(remote_id)
            return
        path = f"/videos/{path_segment(remote_id, 'video_id')}"
        response = await self._send("DELETE", path, lookup="video_id")
        _parse(VideoDeleted, response, normalize=normalize_deleted)

    async def list_videos(
        self,
        *,
        after: str | None = None,
        limit: int = 20,
        order: Literal["asc", "desc"] = "desc",
    ) -> VideoList:
        """One page of `GET /videos`; pass the page's `last_id` as `after` for the next one."""
        params: dict[str, str | int] = {"limit": limit, "order": order}
        if after is not None:
            params["after"] = after
        response = await self._send("GET", "/videos", params=params)
        return _parse(VideoList, response, normalize=normalize_list)

    async def find(
        self, request: SubmitRequest, *, since: float, exclude: Collection[str] = ()
    ) -> RemoteJob | None:
        """The job a create whose answer was lost may have made, or None.

        The Videos API has no lookup by idempotency key, so this lists `GET /videos` newest
        first (100 a page, following `after`) back to `since - 120 s` (`since` is the unix time
        the create was first sent) and returns the newest video that matches the request: the
        same prompt and, for a generation, the same model, size and seconds; for a remix, the
        same source (`remixed_from_video_id`); for an extension, the same size and a stitched
        total of at least the added seconds; for an edit, the same size. Jobs this instance
        already handed out (from `submit` or an earlier `find`) and the ledger's `exclude` are skipped, so identical
        siblings (variations) are not mistaken for the lost one. When nothing matches, the
        engine re-sends the create with the same `Idempotency-Key`, which a server that honours
        the key dedupes. A server without `GET /videos` (404/405) counts as no match.
        An image job is found in the spool, by its idempotency key.
        """
        if request.kind == "image":
            spooled = await self._images.find(request)
            return None if spooled is None or spooled.id in exclude else spooled
        horizon = since - FIND_WINDOW_SECONDS
        best: Video | None = None
        after: str | None = None
        for _ in range(FIND_MAX_PAGES):
            try:
                page = await self.list_videos(after=after, limit=100, order="desc")
            except ProviderBadRequestError as exc:
                if exc.status_code in (404, 405):
                    logger.info("openai: the server cannot list videos; find returns nothing")
                    return None
                raise
            recent = [video for video in page.data if video.created_at >= horizon]
            for video in recent:
                if video.id in self._claimed or video.id in exclude or not matches(video, request):
                    continue
                if best is None or video.created_at > best.created_at:
                    best = video
            if not page.has_more or len(recent) < len(page.data) or not page.data:
                break
            next_after = page.last_id or page.data[-1].id
            if next_after == after:
                break
            after = next_after
        if best is None:
            return None
        logger.info("openai: found %s for the %s that lost its answer", best.id, request.kind)
        self._claim(best.id)
        return _remote_job(best, None)

    # -- content -----------------------------------------------------------------------------

    @asynccontextmanager
    async def download(
        self, remote_id: str, variant: ContentVariant = "video"
    ) -> AsyncIterator[Download]:
        """Stream `GET /videos/{id}/content?variant=...`; a short body raises `ContentDownloadError`.
        An image job's `image` streams from the spool."""
        if variant == "image" or is_spool_id(remote_id):
            if variant != "image" or not is_spool_id(remote_id):
                raise InvalidRequestError(
                    f"{remote_id} has no {variant}: images serve `image`, videos their variants",
                    param="variant",
                )
            async with self._images.download(remote_id) as image:
                yield image
            return
        path = f"/videos/{path_segment(remote_id, 'video_id')}/content"
        headers = {"Accept": "application/binary", "Accept-Encoding": "identity"}
        try:
            request = self._client.build_request(
                "GET", path, params={"variant": variant}, headers=headers
            )
            response = await self._client.send(request, stream=True)
        except HTTPX_ERRORS as exc:
            raise translate_error(exc) from exc
        try:
            if not response.is_success:
                await read_quietly(response, PROVIDER)
                raise translate_error(response, lookup="video_id")
            encoded = response.headers.get("content-encoding", "identity").lower() != "identity"
            expected = content_length(response)
            media_type = response.headers.get("content-type", CONTENT_TYPES[variant])
            if variant != "video" and media_type.startswith("video/"):
                raise ProviderError(
                    f"the server answered the {variant} of {remote_id} with a video: it serves "
                    "the video only; set SORAKIT_OPENAI_VIDEO_ONLY=true",
                    provider=PROVIDER,
                    status_code=response.status_code,
                )
            yield Download(
                chunks=checked_chunks(response, expected, provider=PROVIDER, raw=not encoded),
                media_type=media_type.split(";")[0].strip(),
                expected_size=expected,
                extra=_extra_headers(response),
            )
        finally:
            try:
                await response.aclose()
            except HTTPX_ERRORS:
                logger.debug("openai: closing the download of %s failed", path)

    # -- characters --------------------------------------------------------------------------

    async def create_character(self, name: str, video: SourceVideo) -> Character:
        """`POST /videos/characters` (multipart: `name` and the `video` clip)."""
        response = await self._send(
            "POST",
            "/videos/characters",
            data={"name": name},
            files={"video": (video.filename, video.data, video.media_type)},
        )
        return _character(_parse(VideoCharacter, response), response, fallback_name=name)

    async def retrieve_character(self, character_id: str) -> Character:
        """`GET /videos/characters/{id}`."""
        path = f"/videos/characters/{path_segment(character_id, 'character_id')}"
        response = await self._send("GET", path, lookup="character_id")
        return _character(_parse(VideoCharacter, response), response, fallback_name=None)

    # -- plumbing ----------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        lookup: str | None = None,
        keep: Callable[[httpx.Response], object] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One request; any httpx failure or error status leaves as a sorakit error, except an
        error answer that `keep` finds something in (it is returned as it is)."""
        try:
            response = await self._client.request(method, path, **kwargs)
        except HTTPX_ERRORS as exc:
            raise translate_error(exc) from exc
        if not response.is_success and not (keep is not None and keep(response) is not None):
            logger.debug(
                "openai: %s %s -> HTTP %s (request id %s)",
                method,
                path,
                response.status_code,
                response.headers.get("x-request-id"),
            )
            raise translate_error(response, lookup=lookup)
        return response

    def _claim(self, video_id: str) -> None:
        self._claimed[video_id] = None
        if len(self._claimed) > _CLAIMED_MAX:
            del self._claimed[next(iter(self._claimed))]

    def _parse_video(self, response: httpx.Response) -> Video:
        if not response.is_success:  # an error answer that carries a failed job
            job = failed_job_body(response)
            try:
                return Video.model_validate(job)
            except pydantic.ValidationError as exc:
                raise translate_error(response, lookup="video_id") from exc
        return _parse(Video, response, normalize=normalize_video)


class VideoOnlyOpenAIProvider(OpenAIProvider):
    """An `OpenAIProvider` whose server serves no thumbnail or spritesheet (vLLM-Omni, SGLang)."""

    variants: ClassVar[frozenset[ContentVariant]] = frozenset({"video", "image"})


def _checked_base_url(base_url: str) -> httpx.URL:
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL as exc:
        raise ConfigurationError(f"OPENAI_BASE_URL is not a URL ({exc}): {base_url!r}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(
            f"OPENAI_BASE_URL must be an http(s) URL such as http://127.0.0.1:8000/v1, "
            f"not {base_url!r}"
        )
    if url.userinfo:
        raise ConfigurationError("OPENAI_BASE_URL must not carry credentials; use OPENAI_API_KEY")
    return url


def _parse(
    model: type[_Model], response: httpx.Response, *, normalize: Callable[[Any], Any] | None = None
) -> _Model:
    """Validate a success body as `model`; anything else is a `ProviderError`."""
    try:
        data = response.json()
        return model.model_validate(normalize(data) if normalize else data)
    except (ValueError, pydantic.ValidationError) as exc:
        raise ProviderError(
            f"the openai provider answered {response.request.method} {response.request.url.path} "
            f"with HTTP {response.status_code} but not a valid {model.__name__} ({_short(exc)})",
            provider=PROVIDER,
            status_code=response.status_code,
        ) from exc


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()
    return text[0][:200] if text else type(exc).__name__


def _poll_after(response: httpx.Response | None) -> float | None:
    if response is None:
        return None
    raw = response.headers.get("openai-poll-after-ms")
    try:
        millis = float(raw) if raw is not None else -1.0
    except ValueError:
        return None
    return millis / 1000 if millis >= 0 else None


def _expected_seconds(response: httpx.Response | None) -> float | None:
    """A sorakit server's own render estimate (`x-sorakit-expected-seconds`), if it sent one."""
    raw = response.headers.get(EXPECTED_SECONDS_HEADER) if response is not None else None
    try:
        value = float(raw) if raw is not None else -1.0
    except ValueError:
        return None
    return value if value > 0 else None


_MODERATION_CODES = frozenset({"moderation_blocked", "content_policy_violation", "content_filter"})
"""What OpenAI (`moderation_blocked`) and OpenAI-compatible servers call a content refusal."""


def _error_code(code: str | None) -> str | None:
    return "moderation_blocked" if code in _MODERATION_CODES else code


def _remote_job(video: Video, response: httpx.Response | None) -> RemoteJob:
    return RemoteJob(
        id=video.id,
        status=video.status,
        progress=video.progress,
        seconds=video.seconds,
        size=video.size,
        error_code=_error_code(video.error.code) if video.error else None,
        error_message=video.error.message if video.error else None,
        poll_after=_poll_after(response),
        expected_seconds=_expected_seconds(response),
        created_at=float(video.created_at),
        remixed_from=video.remixed_from_video_id,
    )


def _character(
    character: VideoCharacter, response: httpx.Response, *, fallback_name: str | None
) -> Character:
    name = character.name or fallback_name
    if not character.id or name is None:
        raise ProviderError(
            "the openai provider answered a character without an id or a name",
            provider=PROVIDER,
            status_code=response.status_code,
        )
    return Character(id=character.id, name=name, created_at=character.created_at)


def _extra_headers(response: httpx.Response) -> dict[str, str]:
    names = ("etag", "last-modified", "x-request-id", "content-disposition")
    return {name: response.headers[name] for name in names if name in response.headers}
