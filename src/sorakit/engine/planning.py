"""Planning: check a request against its model's capability record, snap it, fit its reference.

Two modes share one code path. Strict mode (the server's default, as the real API did) refuses a
value the model does not allow, with a message that lists the allowed ones. Snap mode (the
library's and CLI's `snap=True`) moves seconds up to the next allowed value and a size or aspect
ratio to the nearest allowed size of the same orientation, and says what it changed.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeAlias

from PIL import Image

from sorakit.catalog.capabilities import (
    Mode,
    ModelCapabilities,
    ModelEntry,
    parse_size,
    request_mode,
)
from sorakit.errors import InvalidRequestError, ReferenceImageError
from sorakit.providers.base import ReferenceImage
from sorakit.wire.videos import PROMPT_MAX_LENGTH

FitMode: TypeAlias = Literal["crop", "letterbox", "pad"]
ReferenceInput: TypeAlias = bytes | str | Path | Image.Image
"""A path, raw bytes, a `data:` URL, or a Pillow image."""

_ASPECT_WORDS = {
    **dict.fromkeys(("portrait", "vertical", "tall"), "9:16"),
    **dict.fromkeys(("landscape", "horizontal", "wide"), "16:9"),
    "widescreen": "16:9",
    "square": "1:1",
}
"""Size words: a shape, resolved to the model's nearest size of that shape."""
_ORIENTATION_WORDS = {"portrait", "vertical", "tall", "landscape", "horizontal", "wide"}
"""Words that ask only for an orientation (any landscape size will do), not an exact ratio."""
_SAME_SHAPE = 0.02
"""Aspect ratios closer than this (as a log) are one shape: 1792x1024 counts as 16:9."""
_MODE_WORDS = {
    "text": "from text alone",
    "image": "with a first-frame image",
    "references": "with reference images",
    "video": "extending a video",
}
_RATIO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[:/]\s*(\d+(?:\.\d+)?)\s*$")


@dataclass
class Plan:
    """A request made concrete: model, seconds, size, fitted reference, and what was changed."""

    model: ModelEntry
    prompt: str
    seconds: int
    size: str
    reference: ReferenceImage | None = None
    last_frame: ReferenceImage | None = None
    reference_images: tuple[ReferenceImage, ...] = ()
    characters: tuple[str, ...] = ()
    changes: list[str] = field(default_factory=list)

    @property
    def estimated_cost(self) -> float | None:
        """The list price of the clip, or None where the model's price for this size is unknown."""
        return self.model.capabilities.price(self.size, self.seconds)


def check_prompt(prompt: str) -> str:
    """Refuse an empty or over-long prompt."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidRequestError("'prompt' must be a non-empty string.", param="prompt")
    if len(prompt) > PROMPT_MAX_LENGTH:
        raise InvalidRequestError(
            f"'prompt' is {len(prompt)} characters long; the maximum is {PROMPT_MAX_LENGTH}.",
            param="prompt",
        )
    return prompt


def _quoted(values: Sequence[object]) -> str:
    items = [f"'{v}'" for v in values]
    if len(items) <= 2:
        return " or ".join(items)
    return ", ".join(items[:-1]) + f", or {items[-1]}"


def resolve_seconds(
    value: int | str | None, caps: ModelCapabilities, model: str, *, snap: bool, changes: list[str]
) -> int:
    """The clip length to ask for; snapping rounds up to the next allowed value."""
    if value is None:
        return caps.default_seconds
    try:
        seconds = float(value)
        if not math.isfinite(seconds):
            raise ValueError(value)
    except (TypeError, ValueError):
        raise InvalidRequestError(
            f"Invalid value for 'seconds': expected one of {_quoted(caps.seconds)}, "
            f"but got {value!r}.",
            param="seconds",
            allowed=[str(s) for s in caps.seconds],
        ) from None
    if seconds == int(seconds) and int(seconds) in caps.seconds:
        return int(seconds)
    if snap and seconds > 0:
        snapped = next((s for s in caps.seconds if s >= seconds), caps.seconds[-1])
        changes.append(f"seconds {value} -> {snapped} ({model} allows {_quoted(caps.seconds)})")
        return snapped
    raise InvalidRequestError(
        f"Invalid value for 'seconds': {model} allows {_quoted(caps.seconds)}, but got '{value}'.",
        param="seconds",
        allowed=[str(s) for s in caps.seconds],
    )


def _aspect_of(value: str) -> float | None:
    shape = _shape_asked(value.strip().lower())
    if shape is not None:
        return shape
    try:
        w, h = parse_size(value)
    except ValueError:
        return None
    return w / h


def _orientation(aspect: float) -> int:
    return 0 if abs(math.log(aspect)) < _SAME_SHAPE else (1 if aspect > 1 else -1)


def nearest_size(target: str, sizes: Sequence[str]) -> str | None:
    """The allowed size closest to a `WxH`, a ratio such as `16:9`, or a size word (`landscape`).

    Orientation is kept when the model offers it; then the aspect ratio decides, then the area.
    """
    aspect = _aspect_of(target)
    if aspect is None:
        return None
    try:
        area = math.prod(parse_size(target))
    except ValueError:
        area = None
    candidates = [s for s in sizes if _orientation(_ratio(s)) == _orientation(aspect)]
    candidates = candidates or list(sizes)

    def distance(size: str) -> tuple[float, float]:
        w, h = parse_size(size)
        return (
            round(abs(math.log(w / h) - math.log(aspect)), 3),
            abs(math.log((w * h) / area)) if area else float(w * h),
        )

    return min(candidates, key=distance)


def _ratio(size: str) -> float:
    w, h = parse_size(size)
    return w / h


def closest_shape(aspect: float, caps: ModelCapabilities) -> str:
    """The allowed size whose aspect ratio is nearest `aspect`.

    Ties (ratios within `_SAME_SHAPE`) go to the default size, then to the size whose area is
    nearest the default's (so a shape never silently moves a clip to a dearer tier), then to the
    larger.
    """
    default_area = math.prod(parse_size(caps.default_size))

    def off(size: str) -> float:
        return abs(math.log(_ratio(size)) - math.log(aspect))

    best = min(off(size) for size in caps.sizes)
    ties = [size for size in caps.sizes if off(size) <= best + _SAME_SHAPE]
    if caps.default_size in ties:
        return caps.default_size

    def preference(size: str) -> tuple[float, int]:
        area = math.prod(parse_size(size))
        return round(abs(math.log(area / default_area)), 3), -area

    return min(ties, key=preference)


def _shape_asked(value: str) -> float | None:
    """The aspect ratio a size word or a ratio asks for; None for anything else (`WxH` too)."""
    match = _RATIO.match(_ASPECT_WORDS.get(value, value))
    if not match:
        return None
    width, height = float(match.group(1)), float(match.group(2))
    return width / height if width > 0 and height > 0 else None


def _shape_fits(word: str, aspect: float, size: str) -> bool:
    """Whether `size` is the shape a size word or ratio asked for."""
    if word in _ORIENTATION_WORDS:
        return _orientation(_ratio(size)) == _orientation(aspect)
    return abs(math.log(_ratio(size)) - math.log(aspect)) <= _SAME_SHAPE


def _other_modes(size: str, caps: ModelCapabilities) -> str:
    """` (SIZE is offered only with a first-frame image)` where another mode has the size."""
    modes = [m for m in caps.modes() if size in caps.for_mode(m).sizes]
    if not modes:
        return ""
    return f" ({size} is offered only {' or '.join(_MODE_WORDS[m] for m in modes)})"


def resolve_size(
    value: str | None,
    caps: ModelCapabilities,
    model: str,
    *,
    snap: bool,
    changes: list[str],
    reference_size: tuple[int, int] | None = None,
    whole: ModelCapabilities | None = None,
) -> str:
    """The size to ask for (`caps` as the request's mode sees it, `whole` the model's record).

    A `WxH` must be one the model allows (snapping picks the nearest of the same orientation); a
    size word (`landscape`, `vertical`, `square`) or a ratio (`16:9`) picks the model's size of
    that shape; no size with a `reference_size` picks the size nearest the reference's shape.
    """
    allows = f"{model} allows {', '.join(caps.sizes)}"
    if value is None:
        if reference_size is None:
            return caps.default_size
        width, height = reference_size
        chosen = closest_shape(width / height, caps)
        changes.append(f"size {chosen}, nearest the reference's {width}x{height} shape")
        return chosen
    normalised = value.strip().lower().replace("×", "x")
    if normalised in caps.sizes:
        return normalised
    aspect = _shape_asked(normalised)
    if aspect is not None:
        chosen = closest_shape(aspect, caps)
        if _shape_fits(normalised, aspect, chosen):
            changes.append(f"size {value} -> {chosen} ({allows})")
            return chosen
    if snap:
        nearest = nearest_size(normalised, caps.sizes)
        if nearest is not None:
            changes.append(f"size {value} -> {nearest} ({allows})")
            return nearest
    raise InvalidRequestError(
        f"Invalid value for 'size': {model} allows {_quoted(caps.sizes)}, but got '{value}'"
        f"{_other_modes(normalised, whole or caps)}.",
        param="size",
        allowed=caps.sizes,
    )


def planned_size(value: str | None, entry: ModelEntry, mode: Mode = "text") -> str:
    """The `WxH` a request of `entry` in `mode` gets for `value` (a size word, a ratio, a near
    size), as snap-mode planning resolves it: for estimates and keyframes drawn ahead."""
    caps = entry.capabilities
    return resolve_size(value, caps.for_mode(mode), entry.name, snap=True, changes=[], whole=caps)


MAX_REFERENCE_SIDE = 2048
"""Subject and style images are scaled down to this longest side; no model wants more."""


def is_data_url(value: str) -> bool:
    """Whether `value` is a `data:` URL (schemes are case-insensitive)."""
    return value[:5].lower() == "data:"


def decode_data_url(url: str, param: str = "input_reference") -> bytes:
    """The bytes of a base64 `data:` URL; ReferenceImageError for any other kind."""
    header, _, payload = url.partition(",")
    if ";base64" not in header.lower():
        raise ReferenceImageError("A data URL reference must be base64-encoded.", param=param)
    try:
        return base64.b64decode(payload, validate=True)
    except ValueError:
        raise ReferenceImageError(
            "The data URL reference is not valid base64.", param=param
        ) from None


def _reference_bytes(
    reference: ReferenceInput, param: str = "input_reference"
) -> bytes | Image.Image:
    if isinstance(reference, Image.Image | bytes):
        return reference
    if isinstance(reference, str) and is_data_url(reference):
        return decode_data_url(reference, param)
    if isinstance(reference, str) and reference.startswith(("http://", "https://")):
        raise ReferenceImageError(
            "Remote image URLs are not fetched; send the image itself or a data URL.",
            param=param,
        )
    path = Path(reference)
    if not path.is_file():
        raise ReferenceImageError(f"No such reference image: {path}", param=param)
    return path.read_bytes()


def _load_image(reference: ReferenceInput, param: str) -> Image.Image:
    from sorakit.media.images import load_image

    try:
        return load_image(_reference_bytes(reference, param))
    except ReferenceImageError as exc:
        exc.param = exc.param or param  # the envelope names the field the image came in
        raise


def prepare_reference(
    reference: ReferenceInput,
    size: str,
    *,
    fit: FitMode | None,
    changes: list[str],
    param: str = "input_reference",
    loaded: Image.Image | None = None,
) -> ReferenceImage:
    """Load a frame image (unless `loaded` already), check or fit it to the exact size, and
    encode it as PNG.

    With `fit=None` a size mismatch is refused with the real API's message.
    """
    from sorakit.media.images import encode_image, fit_image

    image = loaded if loaded is not None else _load_image(reference, param)
    width, height = parse_size(size)
    if image.size != (width, height):
        if fit is None:
            raise ReferenceImageError(
                "Inpaint image must match the requested width and height "
                f"(the image is {image.width}x{image.height}, the video {size}).",
                param=param,
            )
        image = fit_image(image, (width, height), mode=fit)
        what = "reference" if param == "input_reference" else param.replace("_", " ")
        changes.append(f"{what} {image_size_text(reference)} -> {size} ({fit})")
    return ReferenceImage(
        data=encode_image(image, "PNG"), media_type="image/png", width=width, height=height
    )


def prepare_subject_image(reference: ReferenceInput, param: str) -> ReferenceImage:
    """Load a subject or style image and encode it as PNG at its own size (capped)."""
    from sorakit.media.images import encode_image

    image = _load_image(reference, param)
    if max(image.size) > MAX_REFERENCE_SIDE:
        image.thumbnail((MAX_REFERENCE_SIDE, MAX_REFERENCE_SIDE), Image.Resampling.LANCZOS)
    return ReferenceImage(
        data=encode_image(image, "PNG"),
        media_type="image/png",
        width=image.width,
        height=image.height,
    )


def image_size_text(reference: ReferenceInput) -> str:
    """A short description of where a reference came from, for change notes."""
    if isinstance(reference, Path) or (isinstance(reference, str) and not is_data_url(reference)):
        return Path(reference).name
    return "image"


def plan_generate(
    entry: ModelEntry,
    prompt: str,
    *,
    seconds: int | str | None = None,
    size: str | None = None,
    reference: ReferenceInput | None = None,
    last_frame: ReferenceInput | None = None,
    reference_images: Sequence[ReferenceInput] = (),
    characters: Sequence[str] = (),
    snap: bool = False,
    fit: FitMode | None = "crop",
) -> Plan:
    """Plan a new video."""
    caps = entry.capabilities
    changes: list[str] = []
    check_prompt(prompt)
    if reference is not None and not caps.image_reference:
        raise InvalidRequestError(
            f"{entry.name} does not take an image reference.", param="input_reference"
        )
    mode = request_mode(first_frame=reference is not None, references=bool(reference_images))
    if mode == "text" and not caps.text_to_video:
        raise InvalidRequestError(
            f"{entry.name} renders only from a first-frame image: send a reference image "
            "(input_reference).",
            param="input_reference",
        )
    moded = caps.for_mode(mode)
    label = entry.name if moded is caps else f"{entry.name} {_MODE_WORDS[mode]}"
    planned_seconds = resolve_seconds(seconds, moded, label, snap=snap, changes=changes)
    first = None if reference is None else _load_image(reference, "input_reference")
    planned_size = resolve_size(
        size,
        moded,
        label,
        snap=snap,
        changes=changes,
        reference_size=None if first is None else first.size,
        whole=caps,
    )
    fitted = None
    if reference is not None:
        fitted = prepare_reference(reference, planned_size, fit=fit, changes=changes, loaded=first)
    ending = None
    if last_frame is not None:
        if not caps.last_frame:
            raise InvalidRequestError(
                f"{entry.name} does not take a last frame.", param="last_frame"
            )
        ending = prepare_reference(
            last_frame, planned_size, fit=fit, changes=changes, param="last_frame"
        )
    if len(reference_images) > caps.reference_images:
        raise InvalidRequestError(
            f"{entry.name} takes no reference images."
            if not caps.reference_images
            else f"{entry.name} takes at most {caps.reference_images} reference images; "
            f"got {len(reference_images)}.",
            param="reference_images",
        )
    subjects = tuple(
        prepare_subject_image(image, f"reference_images[{index}]")
        for index, image in enumerate(reference_images)
    )
    if characters:
        if not caps.characters:
            raise InvalidRequestError(
                f"{entry.name} does not support characters.", param="characters"
            )
        if len(characters) > 2:
            raise InvalidRequestError(
                f"At most 2 characters per video; got {len(characters)}.", param="characters"
            )
    return Plan(
        model=entry,
        prompt=prompt,
        seconds=planned_seconds,
        size=planned_size,
        reference=fitted,
        last_frame=ending,
        reference_images=subjects,
        characters=tuple(characters),
        changes=changes,
    )
