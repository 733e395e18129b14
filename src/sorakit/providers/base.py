"""The provider seam: the one interface between the engine and whoever renders a video.

A provider turns a planned `SubmitRequest` into a remote job, reports that job's state as a
`RemoteJob`, and streams its content. Everything provider-specific (wire formats, status names,
credentials, error bodies) stays inside the provider's module, and every failure leaves it
translated into `sorakit.errors` (`RateLimitedError`, `ProviderUnavailableError`, ...), so the
engine can retry, resume and account without knowing who rendered the video.

Adding a provider is one module that subclasses `Provider` plus one line in
`sorakit.providers.registry`.

Rules every provider keeps:

- `submit` sends `request.idempotency_key` where the remote API has such a notion, so a retried
  create never makes a second job.
- `find` looks for a job this request already created (its answer may have been lost on the
  wire) and returns it, or None; the engine calls it before it ever re-sends a create.
- `download` streams; it never holds a whole video in memory. A truncated stream raises
  `ContentDownloadError` when the provider can tell; the asset layer checks the file regardless.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Collection
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import ClassVar, Literal, TypeAlias

from sorakit.wire.videos import VideoContentVariant, VideoStatus

JobKind: TypeAlias = Literal["generate", "remix", "extend", "edit", "image"]
"""What a job makes; `image` is one picture of the Images API (generated, or edited from inputs)."""
ContentVariant: TypeAlias = VideoContentVariant | Literal["image"]
"""A file a provider serves for a job: a video's variants, or an image job's `image`."""
IMAGE_FORMATS: dict[str, str] = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
"""The output formats of an image job, with their media types."""

EXPECTED_SECONDS_HEADER = "x-sorakit-expected-seconds"
"""The header in which `sorakit serve` tells its clients how long a job should take in all."""


@dataclass(frozen=True)
class ReferenceImage:
    """An image already fitted to the job's exact size and encoded."""

    data: bytes
    media_type: str
    width: int
    height: int


@dataclass(frozen=True)
class SourceVideo:
    """An uploaded video (for edits of a clip that was not made here)."""

    data: bytes
    filename: str = "video.mp4"
    media_type: str = "video/mp4"


@dataclass(frozen=True)
class SubmitRequest:
    """What the engine asks a provider to render, after planning.

    For `image` jobs `seconds` is 0, `size` the output size and `reference_images` an edit's
    input images (each its own size, not fitted). For `extend`, `seconds` is how many seconds to add; the remote job reports the stitched total.
    """

    kind: JobKind
    model: str
    prompt: str
    seconds: int
    size: str
    idempotency_key: str
    reference: ReferenceImage | None = None
    source_id: str | None = None
    source_video: SourceVideo | None = None
    characters: tuple[str, ...] = ()
    last_frame: ReferenceImage | None = None
    """The image the video should end on, fitted to `size` (first-and-last-frame models)."""
    reference_images: tuple[ReferenceImage, ...] = ()
    """Subject or style images that are not frames; each keeps its own size."""
    mask: ReferenceImage | None = None
    """An image edit's mask: a PNG with alpha, the first input's size; transparent = repaint."""
    output_format: str = "png"
    """An image job's file format: `png`, `jpeg` or `webp` (`IMAGE_FORMATS`)."""
    callback_url: str | None = None
    """Where the provider may POST when the job finishes. Only a hint that wakes tracking early:
    the job's state is still read from the provider's status API, so a forged call costs one
    status request and nothing else."""

    @property
    def width(self) -> int:
        return int(self.size.split("x")[0])

    @property
    def height(self) -> int:
        return int(self.size.split("x")[1])


@dataclass(frozen=True)
class RemoteJob:
    """A provider's job as the provider last reported it, in Sora terms."""

    id: str
    status: VideoStatus
    progress: int | None = None
    seconds: str | None = None
    size: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    poll_after: float | None = None
    """The provider's own hint, in seconds, for when to ask again (`openai-poll-after-ms`)."""
    expected_seconds: float | None = None
    """The provider's own estimate of the whole job's duration, where it gives one."""
    cost: float | None = None
    """The real cost in USD, where the provider reports one."""
    created_at: float | None = None
    remixed_from: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "failed")


@dataclass(frozen=True)
class Character:
    """A character (cameo) a provider made from a clip."""

    id: str
    name: str
    created_at: int


@dataclass
class Download:
    """A streaming download; `expected_size` comes from Content-Length when the server sent one."""

    chunks: AsyncIterator[bytes]
    media_type: str
    expected_size: int | None = None
    extra: dict[str, str] = field(default_factory=dict)


class Provider(abc.ABC):
    """Base class of every provider.

    Subclasses set `name` and implement the abstract methods. Optional capabilities raise
    `InvalidRequestError` with a sentence that says what the provider lacks.
    """

    name: ClassVar[str]
    variants: ClassVar[frozenset[ContentVariant]] = frozenset({"video"})
    """Content variants the provider serves; the engine derives the others from the video.
    An image-capable provider lists `image`."""

    @abc.abstractmethod
    async def submit(self, request: SubmitRequest) -> RemoteJob:
        """Create the remote job and return its first state."""

    @abc.abstractmethod
    async def retrieve(self, remote_id: str) -> RemoteJob:
        """Ask for the job's current state."""

    @abc.abstractmethod
    def download(
        self, remote_id: str, variant: ContentVariant = "video"
    ) -> AbstractAsyncContextManager[Download]:
        """Stream one content variant of a completed job."""

    async def find(
        self, request: SubmitRequest, *, since: float, exclude: Collection[str] = ()
    ) -> RemoteJob | None:
        """The job an earlier `submit` of this request made, if the provider can tell.

        `exclude` holds remote ids the ledger already owns, which are never the lost job.
        """
        return None

    async def delete(self, remote_id: str) -> None:
        """Delete the remote job and its stored assets, where the provider allows it."""
        return None

    async def create_character(self, name: str, video: SourceVideo) -> Character:
        """Make a character from a short clip."""
        from sorakit.errors import InvalidRequestError

        raise InvalidRequestError(f"the {self.name} provider does not support characters")

    async def retrieve_character(self, character_id: str) -> Character:
        """Look a character up by id."""
        from sorakit.errors import NotFoundError

        raise NotFoundError(f"no character {character_id!r}", param="character_id")

    def expected_render_seconds(self, request: SubmitRequest) -> float | None:
        """How long the provider usually takes for this request; None to use the catalog's."""
        return None

    async def aclose(self) -> None:
        """Release connections and background tasks."""
        return None
