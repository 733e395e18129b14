"""The per-model input maps: how a `SubmitRequest` becomes one fal endpoint's input JSON.

Every model fal serves has its own schema (providers.md §4.3): the duration travels as a string
(`"5"`, `"8s"`) or an int, the frame is `aspect_ratio` plus `resolution` (or only one of them),
and the first frame is `image_url` or `start_image_url` on a separate image-to-video endpoint.
A last frame rides on the image-to-video endpoint (`end_image_url`) or on a separate
first-and-last-frame endpoint (Veo); subject or style images go to a reference-to-video endpoint
(`image_urls`). A `FalModel` holds one model's answers to those questions; `build_input` applies
them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sorakit.errors import InvalidRequestError
from sorakit.providers.base import ReferenceImage, SubmitRequest

DurationStyle = Literal["int", "str", "str_s", "fixed"]
"""`int`: `5`; `str`: `"5"`; `str_s`: `"5s"` (Veo); `fixed`: not sent (one length only)."""

SIZE_FRAMES: dict[str, tuple[str, str]] = {
    # 480p
    "854x480": ("16:9", "480p"),
    "480x854": ("9:16", "480p"),
    "480x480": ("1:1", "480p"),
    "640x480": ("4:3", "480p"),
    "480x640": ("3:4", "480p"),
    "1120x480": ("21:9", "480p"),
    # 720p
    "1280x720": ("16:9", "720p"),
    "720x1280": ("9:16", "720p"),
    "720x720": ("1:1", "720p"),
    "960x720": ("4:3", "720p"),
    "720x960": ("3:4", "720p"),
    "1680x720": ("21:9", "720p"),
    # 768p (Hailuo standard)
    "1366x768": ("16:9", "768p"),
    # 1080p
    "1920x1080": ("16:9", "1080p"),
    "1080x1920": ("9:16", "1080p"),
    "1080x1080": ("1:1", "1080p"),
    "1440x1080": ("4:3", "1080p"),
    "1080x1440": ("3:4", "1080p"),
    # 1440p
    "2560x1440": ("16:9", "1440p"),
    "1440x2560": ("9:16", "1440p"),
    # 2160p / 4k
    "3840x2160": ("16:9", "2160p"),
    "2160x3840": ("9:16", "2160p"),
}
"""Each `WxH` we offer, as the aspect ratio and resolution label the fal schemas take."""


def sizes_for(aspects: tuple[str, ...], resolutions: tuple[str, ...]) -> tuple[str, ...]:
    """The `WxH` sizes of every (resolution, aspect) pair, resolution-major, in table order."""
    return tuple(
        size
        for resolution in resolutions
        for size, (aspect, res) in SIZE_FRAMES.items()
        if res == resolution and aspect in aspects
    )


@dataclass(frozen=True)
class FalModel:
    """One model's input schema on fal, as far as a `SubmitRequest` reaches it."""

    key: str
    """The catalog's `provider_model`."""
    text_endpoint: str | None
    image_endpoint: str | None
    duration: DurationStyle
    image_key: str = "image_url"
    aspect_key: str | None = "aspect_ratio"
    """None where the model takes no aspect ratio (it follows the image or is fixed)."""
    aspect_on_image: bool = False
    """Whether the image-to-video endpoint takes `aspect_ratio` too."""
    resolution_key: str | None = "resolution"
    resolution_labels: dict[str, str] = field(default_factory=dict)
    """Our resolution label to the model's own (`2160p` -> `4k` for Veo)."""
    audio_key: str | None = None
    """The boolean that turns the soundtrack on (sent as true), where the schema has one."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Fixed inputs sent with every request."""
    seconds: tuple[int, ...] = ()
    sizes: tuple[str, ...] = ()
    last_frame_key: str | None = None
    """The image-to-video field for the last frame (`end_image_url`), where the model takes one."""
    frames_endpoint: str | None = None
    """A separate first-and-last-frame endpoint (Veo), used whenever a last frame is given."""
    frame_keys: tuple[str, str] = ("first_frame_url", "last_frame_url")
    """The first and last frame fields of `frames_endpoint`."""
    references_endpoint: str | None = None
    """The reference-to-video endpoint that takes subject or style images (`image_urls`)."""
    max_references: int = 0
    """How many images `references_endpoint` takes at most."""
    references_key: str = "image_urls"
    extend_endpoint: str | None = None
    """The endpoint that continues a clip (`video_url`), where fal has one."""
    extend_seconds: tuple[int, ...] = ()
    extend_sizes: tuple[str, ...] = ()
    render_base: float = 60.0
    render_per_second: float = 10.0
    """Expected wall time: base + per_second * clip seconds (estimates; fal publishes none)."""

    @property
    def last_frame(self) -> bool:
        """Whether the model takes a last frame (always with a first one)."""
        return self.last_frame_key is not None or self.frames_endpoint is not None

    def endpoints(self) -> tuple[str, ...]:
        """Every endpoint id this model's jobs may run on."""
        endpoints = (
            self.text_endpoint,
            self.image_endpoint,
            self.frames_endpoint,
            self.references_endpoint,
            self.extend_endpoint,
        )
        return tuple(e for e in endpoints if e is not None)


def _duration(style: DurationStyle, seconds: int) -> int | str:
    if style == "int":
        return seconds
    if style == "str":
        return str(seconds)
    return f"{seconds}s"


def check(model: FalModel, request: SubmitRequest) -> None:
    """Refuse, before anything is sent, a request this model cannot take."""
    if request.characters:
        raise InvalidRequestError(
            f"the fal model {model.key!r} has no characters (cameos)", param="characters"
        )
    if request.kind == "extend" and model.extend_endpoint is not None:
        seconds, sizes, what = model.extend_seconds, model.extend_sizes, "extend by"
    elif request.kind == "generate":
        seconds, sizes, what = model.seconds, model.sizes, "make"
    else:
        offers = "text-to-video, image-to-video"
        if model.extend_endpoint is not None:
            offers += " and extension"
        raise InvalidRequestError(
            f"the fal model {model.key!r} cannot {request.kind} a video: fal offers it "
            f"only {offers}",
            param="model",
        )
    if seconds and request.seconds not in seconds:
        raise InvalidRequestError(
            f"the fal model {model.key!r} cannot {what} {request.seconds} seconds",
            param="seconds",
            allowed=[str(s) for s in seconds],
        )
    if request.size not in SIZE_FRAMES or (sizes and request.size not in sizes):
        raise InvalidRequestError(
            f"the fal model {model.key!r} cannot {what} {request.size} videos",
            param="size",
            allowed=list(sizes),
        )
    if request.kind == "extend" and request.reference is not None:
        raise InvalidRequestError("an extension takes no reference image", param="input_reference")
    if request.kind == "extend" and (request.last_frame is not None or request.reference_images):
        raise InvalidRequestError(
            "an extension takes no last frame or reference images", param="last_frame"
        )
    _check_frames(model, request)


def _check_frames(model: FalModel, request: SubmitRequest) -> None:
    """Refuse a last frame or reference images the model (or this combination) cannot take."""
    if request.last_frame is not None:
        if not model.last_frame:
            raise InvalidRequestError(
                f"the fal model {model.key!r} takes no last frame", param="last_frame"
            )
        if request.reference is None:
            raise InvalidRequestError(
                f"the fal model {model.key!r} takes a last frame only with a first frame "
                "(input_reference)",
                param="last_frame",
            )
    images = len(request.reference_images)
    if not images:
        return
    if model.references_endpoint is None:
        raise InvalidRequestError(
            f"the fal model {model.key!r} takes no reference images", param="reference_images"
        )
    if images > model.max_references:
        raise InvalidRequestError(
            f"the fal model {model.key!r} takes at most {model.max_references} reference "
            f"images, not {images}",
            param="reference_images",
        )
    if request.reference is not None or request.last_frame is not None:
        # fal's reference-to-video endpoints have no frame fields.
        raise InvalidRequestError(
            f"the fal model {model.key!r} takes reference images or frames, not both",
            param="reference_images",
        )


def build_input(
    model: FalModel, request: SubmitRequest, *, source_url: str | None = None
) -> tuple[str, dict[str, Any]]:
    """The endpoint id and input JSON; an extension needs the source clip's URL or data URI."""
    check(model, request)
    if request.kind == "extend":
        if model.extend_endpoint is None or source_url is None:
            raise InvalidRequestError("an extension needs its source video", param="video")
        extension: dict[str, Any] = {
            "prompt": request.prompt,
            "video_url": source_url,
            "duration": _duration(model.duration, request.seconds),
        }
        return model.extend_endpoint, extension
    aspect, resolution = SIZE_FRAMES[request.size]
    body: dict[str, Any] = {"prompt": request.prompt}
    if model.duration != "fixed":
        body["duration"] = _duration(model.duration, request.seconds)
    if request.reference_images and model.references_endpoint is not None:
        endpoint = model.references_endpoint
        body[model.references_key] = [_data_uri(i) for i in request.reference_images]
        send_aspect = True
    elif request.last_frame is not None and model.frames_endpoint is not None:
        assert request.reference is not None  # `check` refused a last frame without a first
        endpoint = model.frames_endpoint
        first_key, last_key = model.frame_keys
        body[first_key] = _data_uri(request.reference)
        body[last_key] = _data_uri(request.last_frame)
        send_aspect = model.aspect_on_image
    elif request.reference is not None:
        if model.image_endpoint is None:
            raise InvalidRequestError(
                f"the fal model {model.key!r} takes no reference image (text-to-video only)",
                param="input_reference",
            )
        endpoint = model.image_endpoint
        body[model.image_key] = _data_uri(request.reference)
        if request.last_frame is not None and model.last_frame_key is not None:
            body[model.last_frame_key] = _data_uri(request.last_frame)
        send_aspect = model.aspect_on_image
    else:
        if model.text_endpoint is None:
            raise InvalidRequestError(
                f"the fal model {model.key!r} needs a reference image (image-to-video only)",
                param="input_reference",
            )
        endpoint = model.text_endpoint
        send_aspect = True
    if model.aspect_key is not None and send_aspect:
        body[model.aspect_key] = aspect
    if model.resolution_key is not None:
        body[model.resolution_key] = model.resolution_labels.get(resolution, resolution)
    if model.audio_key is not None:
        body[model.audio_key] = True
    body.update(model.extra)
    return endpoint, body


def _data_uri(image: ReferenceImage) -> str:
    import fal_client  # the catalog reads this module; the SDK loads only when sending

    return str(fal_client.encode(image.data, image.media_type))


# -- the models ------------------------------------------------------------------------------

ASPECTS_5 = ("16:9", "9:16", "1:1", "4:3", "3:4")

KLING_3_PRO = FalModel(
    key="kling-video/v3/pro",
    text_endpoint="fal-ai/kling-video/v3/pro/text-to-video",
    image_endpoint="fal-ai/kling-video/v3/pro/image-to-video",
    duration="str",
    image_key="start_image_url",
    last_frame_key="end_image_url",
    resolution_key=None,
    audio_key="generate_audio",
    seconds=tuple(range(3, 16)),
    sizes=sizes_for(("16:9", "9:16", "1:1"), ("1080p",)),
    render_base=90.0,
    render_per_second=10.0,
)
SEEDANCE_2 = FalModel(
    key="seedance-2.0",
    text_endpoint="bytedance/seedance-2.0/text-to-video",
    image_endpoint="bytedance/seedance-2.0/image-to-video",
    references_endpoint="bytedance/seedance-2.0/reference-to-video",
    max_references=9,
    duration="str",
    aspect_on_image=True,
    seconds=tuple(range(4, 16)),
    sizes=sizes_for(("21:9", "16:9", "4:3", "1:1", "3:4", "9:16"), ("720p", "480p")),
    render_base=60.0,
    render_per_second=10.0,
)
SEEDANCE_2_FAST = FalModel(
    key="seedance-2.0/fast",
    text_endpoint="bytedance/seedance-2.0/fast/text-to-video",
    image_endpoint="bytedance/seedance-2.0/fast/image-to-video",
    references_endpoint="bytedance/seedance-2.0/fast/reference-to-video",
    max_references=9,
    duration="str",
    aspect_on_image=True,
    seconds=SEEDANCE_2.seconds,
    sizes=SEEDANCE_2.sizes,
    render_base=40.0,
    render_per_second=6.0,
)
HAPPY_HORSE = FalModel(
    key="happy-horse",
    text_endpoint="alibaba/happy-horse/text-to-video",
    image_endpoint="alibaba/happy-horse/image-to-video",
    duration="int",
    seconds=tuple(range(3, 16)),
    sizes=sizes_for(ASPECTS_5, ("720p", "1080p")),
    render_base=60.0,
    render_per_second=8.0,
)
VEO_3_1 = FalModel(
    key="veo3.1",
    text_endpoint="fal-ai/veo3.1",
    image_endpoint="fal-ai/veo3.1/image-to-video",
    frames_endpoint="fal-ai/veo3.1/first-last-frame-to-video",
    references_endpoint="fal-ai/veo3.1/reference-to-video",
    max_references=3,  # Veo's ASSET references (providers.md §3.3); fal's page shows three
    duration="str_s",
    aspect_on_image=True,
    resolution_labels={"2160p": "4k"},
    audio_key="generate_audio",
    seconds=(4, 6, 8),
    sizes=sizes_for(("16:9", "9:16"), ("720p", "1080p", "2160p")),
    render_base=60.0,
    render_per_second=8.0,
    extend_endpoint="fal-ai/veo3.1/fast/extend-video",
    extend_seconds=(7,),
    extend_sizes=("1280x720", "720x1280"),
)
VEO_3_1_FAST = FalModel(
    key="veo3.1/fast",
    text_endpoint="fal-ai/veo3.1/fast",
    image_endpoint=None,
    duration="str_s",
    resolution_labels={"2160p": "4k"},
    audio_key="generate_audio",
    seconds=(4, 6, 8),
    sizes=sizes_for(("16:9", "9:16"), ("720p", "1080p")),
    render_base=40.0,
    render_per_second=5.0,
    extend_endpoint="fal-ai/veo3.1/fast/extend-video",
    extend_seconds=(7,),
    extend_sizes=("1280x720", "720x1280"),
)
WAN_2_7 = FalModel(
    key="wan/v2.7",
    text_endpoint="fal-ai/wan/v2.7/text-to-video",
    image_endpoint="fal-ai/wan/v2.7/image-to-video",
    last_frame_key="end_image_url",
    duration="int",
    seconds=tuple(range(2, 16)),
    sizes=sizes_for(ASPECTS_5, ("720p", "1080p")),
    render_base=90.0,
    render_per_second=12.0,
)
LTX_2_3 = FalModel(
    key="ltx-2.3",
    text_endpoint="fal-ai/ltx-2.3/text-to-video",
    image_endpoint="fal-ai/ltx-2.3/image-to-video",
    last_frame_key="end_image_url",
    duration="int",
    audio_key="generate_audio",
    seconds=(6, 8, 10),
    sizes=sizes_for(("16:9", "9:16"), ("1080p", "1440p", "2160p")),
    render_base=30.0,
    render_per_second=5.0,
)
HAILUO_2_3 = FalModel(
    key="minimax/hailuo-2.3/standard",
    text_endpoint="fal-ai/minimax/hailuo-2.3/standard/text-to-video",
    image_endpoint="fal-ai/minimax/hailuo-2.3/standard/image-to-video",
    duration="str",
    aspect_key=None,
    resolution_key=None,
    seconds=(6, 10),
    sizes=("1366x768",),
    render_base=120.0,
    render_per_second=15.0,
)
HAILUO_2_3_PRO = FalModel(
    key="minimax/hailuo-2.3/pro",
    text_endpoint="fal-ai/minimax/hailuo-2.3/pro/text-to-video",
    image_endpoint="fal-ai/minimax/hailuo-2.3/pro/image-to-video",
    duration="fixed",  # the Pro schema has no duration: always 6 s at 1080p
    aspect_key=None,
    resolution_key=None,
    seconds=(6,),
    sizes=("1920x1080",),
    render_base=150.0,
    render_per_second=20.0,
)
GEMINI_OMNI_FLASH = FalModel(
    key="gemini-omni-flash",
    text_endpoint="google/gemini-omni-flash",
    image_endpoint="google/gemini-omni-flash/image-to-video",
    references_endpoint="google/gemini-omni-flash/reference-to-video",
    max_references=3,  # Omni 1.1 takes up to 3 images (providers.md §2)
    duration="int",
    resolution_key=None,
    seconds=tuple(range(3, 11)),
    sizes=sizes_for(("16:9", "9:16"), ("720p",)),
    render_base=45.0,
    render_per_second=8.0,
)

FAL_MODELS: dict[str, FalModel] = {
    m.key: m
    for m in (
        KLING_3_PRO,
        SEEDANCE_2,
        SEEDANCE_2_FAST,
        HAPPY_HORSE,
        VEO_3_1,
        VEO_3_1_FAST,
        WAN_2_7,
        LTX_2_3,
        HAILUO_2_3,
        HAILUO_2_3_PRO,
        GEMINI_OMNI_FLASH,
    )
}
"""Every model the adapter can drive, by the catalog's `provider_model`."""


def fal_model(key: str) -> FalModel:
    """The input map for a catalog `provider_model`; unknown keys are refused before sending."""
    model = FAL_MODELS.get(key)
    if model is None:
        raise InvalidRequestError(
            f"the fal provider has no input map for {key!r}",
            param="model",
            allowed=list(FAL_MODELS),
        )
    return model
