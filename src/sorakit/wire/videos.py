"""The OpenAI Videos API (Sora 2) wire types, as of its final contract (2026-09-24).

Field docs follow the official SDK. Responses tolerate unknown fields; requests are strict about
the fields the real API validated.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field

VideoStatus: TypeAlias = Literal["queued", "in_progress", "completed", "failed"]
VideoSize: TypeAlias = Literal["720x1280", "1280x720", "1024x1792", "1792x1024"]
VideoSeconds: TypeAlias = Literal["4", "8", "12"]
VideoModel: TypeAlias = (
    str
    | Literal[
        "sora-2",
        "sora-2-pro",
        "sora-2-2025-10-06",
        "sora-2-pro-2025-10-06",
        "sora-2-2025-12-08",
    ]
)
VideoContentVariant: TypeAlias = Literal["video", "thumbnail", "spritesheet"]

CONTENT_TYPES: dict[str, str] = {
    "video": "video/mp4",
    "thumbnail": "image/webp",
    "spritesheet": "image/jpeg",
}
"""The media type of each content variant."""

PROMPT_MAX_LENGTH = 32000
CHARACTER_NAME_MAX_LENGTH = 80
MAX_CHARACTERS_PER_VIDEO = 2


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow")


class VideoCreateError(_Response):
    """Why a video job failed."""

    code: str
    """A machine-readable error code, such as `moderation_blocked`."""
    message: str
    """A human-readable description of the error."""


class Video(_Response):
    """A video generation job."""

    id: str
    """Unique identifier for the video job."""
    object: Literal["video"] = "video"
    """The object type, always `video`."""
    model: VideoModel
    """The video generation model that produced the job."""
    status: VideoStatus
    """Current lifecycle status of the video job."""
    progress: int = 0
    """Approximate completion percentage for the generation task (0-100)."""
    created_at: int
    """Unix timestamp (seconds) for when the job was created."""
    completed_at: int | None = None
    """Unix timestamp (seconds) for when the job completed, if finished."""
    expires_at: int | None = None
    """Unix timestamp (seconds) for when the downloadable assets expire, if set."""
    prompt: str | None = None
    """The prompt that was used to generate the video."""
    size: str
    """The resolution of the generated video."""
    seconds: str
    """Duration of the generated clip in seconds; the stitched total for extensions."""
    remixed_from_video_id: str | None = None
    """Identifier of the source video if this video is a remix."""
    error: VideoCreateError | None = None
    """Error payload that explains why generation failed, if applicable."""


class VideoList(_Response):
    """A page of videos, as `GET /videos` returns it."""

    object: Literal["list"] = "list"
    """The object type, always `list`."""
    data: list[Video]
    """The videos on this page."""
    first_id: str | None = None
    """The id of the first video on this page."""
    last_id: str | None = None
    """The id of the last video on this page; the `after` cursor for the next one."""
    has_more: bool = False
    """Whether another page follows."""


class VideoDeleted(_Response):
    """The answer to `DELETE /videos/{video_id}`."""

    id: str
    """The id of the deleted video."""
    object: Literal["video.deleted"] = "video.deleted"
    """The object type, always `video.deleted`."""
    deleted: bool = True
    """Whether the video was deleted."""


class VideoCharacter(_Response):
    """A character (cameo) made from a short clip, usable in later prompts by name."""

    id: str | None
    """Identifier for the character creation cameo."""
    name: str | None
    """The character's name, to be used verbatim in prompts."""
    created_at: int
    """Unix timestamp (seconds) for when the character was created."""


class ImageReference(BaseModel):
    """An image reference by URL (or data URL) or uploaded file id: exactly one of the two."""

    model_config = ConfigDict(extra="forbid")

    image_url: str | None = Field(default=None, max_length=20971520)
    """A fully qualified URL or a base64 data URL."""
    file_id: str | None = None
    """The id of an uploaded file."""


class VideoReference(BaseModel):
    """A reference to an existing video by id."""

    model_config = ConfigDict(extra="forbid")

    id: str
    """The id of a completed video."""


class CharacterReference(BaseModel):
    """A character to feature in a generation."""

    model_config = ConfigDict(extra="forbid")

    id: str
    """The id of a character made with `POST /videos/characters`."""


class VideoCreateParams(BaseModel):
    """The JSON body of `POST /videos`."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(max_length=PROMPT_MAX_LENGTH)
    """What the video shows."""
    model: VideoModel | None = None
    """The model (or alias) to render with; `sora-2` when left out."""
    seconds: str | VideoSeconds | None = None
    """The clip length in seconds, as a string; the model's default when left out."""
    size: str | VideoSize | None = None
    """`WIDTHxHEIGHT`; the model's default when left out."""
    input_reference: ImageReference | None = None
    """An image the video starts from."""
    characters: list[CharacterReference] | None = Field(
        default=None, max_length=MAX_CHARACTERS_PER_VIDEO
    )
    """Characters to feature, by id."""
    last_frame: ImageReference | None = None
    """An image the video ends on (sorakit; for models that take one)."""
    reference_images: list[ImageReference] | None = None
    """Images of subjects or styles to keep (sorakit; for models that take them)."""


class VideoCreateForm(BaseModel):
    """The multipart body of `POST /videos`, as the official SDK sends it."""

    prompt: str = Field(max_length=PROMPT_MAX_LENGTH)
    """What the video shows."""
    model: str | None = None
    """The model (or alias) to render with."""
    seconds: str | None = None
    """The clip length in seconds."""
    size: str | None = None
    """`WIDTHxHEIGHT`."""
    input_reference: bytes | None = None
    """An image file the video starts from."""
    input_reference_url: str | None = Field(default=None, alias="input_reference[image_url]")
    """Or the image by URL or data URL."""
    character_ids: list[str] | None = Field(default=None, alias="characters[][id]")
    """Characters to feature, by id."""
    last_frame: bytes | None = None
    """An image file the video ends on."""
    reference_images: list[bytes] | None = None
    """Image files of subjects or styles to keep."""


class VideoEditParams(BaseModel):
    """The JSON body of `POST /videos/edits`."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(max_length=PROMPT_MAX_LENGTH)
    """How to change the video."""
    video: VideoReference
    """The completed video to edit."""
    model: VideoModel | None = None
    """The model to edit with."""


class VideoEditForm(BaseModel):
    """The multipart body of `POST /videos/edits`: a clip to edit, or a video by id."""

    prompt: str = Field(max_length=PROMPT_MAX_LENGTH)
    """How to change the video."""
    video: bytes | None = None
    """A clip to edit."""
    video_id: str | None = Field(default=None, alias="video[id]")
    """Or a completed video, by id."""
    model: str | None = None
    """The model to edit with."""


class VideoExtendParams(BaseModel):
    """The JSON body of `POST /videos/extensions`."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(max_length=PROMPT_MAX_LENGTH)
    """What happens next."""
    video: VideoReference
    """The completed video to continue."""
    seconds: str | VideoSeconds
    """How many seconds to add."""


class VideoExtendForm(BaseModel):
    """The multipart body of `POST /videos/extensions`."""

    prompt: str = Field(max_length=PROMPT_MAX_LENGTH)
    """What happens next."""
    video_id: str = Field(alias="video[id]")
    """The completed video to continue, by id."""
    seconds: str
    """How many seconds to add."""


class VideoRemixParams(BaseModel):
    """The body of `POST /videos/{video_id}/remix`."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(max_length=PROMPT_MAX_LENGTH)
    """How to change the video."""


class CharacterCreateForm(BaseModel):
    """The multipart body of `POST /videos/characters`."""

    name: str = Field(max_length=CHARACTER_NAME_MAX_LENGTH)
    """The character's name, to use verbatim in prompts."""
    video: bytes
    """A short clip of the character."""


class ErrorDetail(BaseModel):
    """The body of the OpenAI error envelope."""

    message: str
    """A sentence that says what went wrong."""
    type: str
    """The error class, such as `invalid_request_error`."""
    param: str | None = None
    """The request field at fault, if one is."""
    code: str | None = None
    """A machine-readable code, if there is one."""


class ErrorEnvelope(BaseModel):
    """`{"error": {...}}`: what every failed request answers."""

    error: ErrorDetail
    """The error."""


class WebhookEventData(BaseModel):
    """The payload of a video webhook event."""

    id: str
    """The id of the video the event is about."""


class WebhookEvent(BaseModel):
    """A `video.completed` or `video.failed` event, signed per Standard Webhooks."""

    id: str
    """The event id, `evt_...`."""
    object: Literal["event"] = "event"
    """The object type, always `event`."""
    created_at: int
    """Unix timestamp (seconds) for when the event happened."""
    type: Literal["video.completed", "video.failed"]
    """What happened."""
    data: WebhookEventData
    """Which video it happened to."""
