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

from sorakit.catalog.capabilities import ModelCapabilities, ModelEntry, parse_size
from sorakit.errors import InvalidRequestError, ReferenceImageError
from sorakit.providers.base import ReferenceImage
from sorakit.wire.videos import PROMPT_MAX_LENGTH

FitMode: TypeAlias = Literal["crop", "letterbox", "pad"]
ReferenceInput: TypeAlias = bytes | str | Path | Image.Image
"""A path, raw bytes, a `data:` URL, or a Pillow image."""

_ASPECT_WORDS = {"landscape": "16:9", "portrait": "9:16", "square": "1:1"}
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
    word = _ASPECT_WORDS.get(value.strip().lower())
    match = _RATIO.match(word or value)
    if match:
        width, height = float(match.group(1)), float(match.group(2))
        return width / height if width > 0 and height > 0 else None
    try:
        w, h = parse_size(value)
    except ValueError:
        return None
    return w / h


def nearest_size(target: str, sizes: Sequence[str]) -> str | None:
    """The allowed size closest to a `WxH`, a ratio such as `16:9`, or `landscape`/`portrait`.

    Orientation is kept when the model offers it; then the aspect ratio decides, then the area.
    """
    aspect = _aspect_of(target)
    if aspect is None:
        return None
    try:
        area = math.prod(parse_size(target))
    except ValueError:
        area = None

    def orientation(a: float) -> int:
        return 0 if abs(math.log(a)) < 0.02 else (1 if a > 1 else -1)

    candidates = [s for s in sizes if orientation(_ratio(s)) == orientation(aspect)] or list(sizes)

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


def resolve_size(
    value: str | None, caps: ModelCapabilities, model: str, *, snap: bool, changes: list[str]
) -> str:
    """The size to ask for; snapping picks the nearest allowed size of the same orientation."""
    if value is None:
        return caps.default_size
    normalised = value.strip().lower().replace("×", "x")
    if normalised in caps.sizes:
        return normalised
    if snap:
        nearest = nearest_size(normalised, caps.sizes)
        if nearest is not None:
            changes.append(f"size {value} -> {nearest} ({model} allows {', '.join(caps.sizes)})")
            return nearest
    raise InvalidRequestError(
        f"Invalid value for 'size': {model} allows {_quoted(caps.sizes)}, but got '{value}'.",
        param="size",
        allowed=caps.sizes,
    )


MAX_REFERENCE_SIDE = 2048
"""Subject and style images are scaled down to this longest side; no model wants more."""


def _reference_bytes(
    reference: ReferenceInput, param: str = "input_reference"
) -> bytes | Image.Image:
    if isinstance(reference, Image.Image | bytes):
        return reference
    if isinstance(reference, str) and reference.startswith("data:"):
        header, _, payload = reference.partition(",")
        if ";base64" not in header:
            raise ReferenceImageError("A data URL reference must be base64-encoded.", param=param)
        try:
            return base64.b64decode(payload, validate=True)
        except ValueError:
            raise ReferenceImageError(
                "The data URL reference is not valid base64.", param=param
            ) from None
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
) -> ReferenceImage:
    """Load a frame image, check or fit it to the exact size, and encode it as PNG.

    With `fit=None` a size mismatch is refused with the real API's message.
    """
    from sorakit.media.images import encode_image, fit_image

    image = _load_image(reference, param)
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
    if isinstance(reference, Path) or (
        isinstance(reference, str) and not reference.startswith("data:")
    ):
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
    planned_seconds = resolve_seconds(seconds, caps, entry.name, snap=snap, changes=changes)
    planned_size = resolve_size(size, caps, entry.name, snap=snap, changes=changes)
    fitted = None
    if reference is not None:
        if not caps.image_reference:
            raise InvalidRequestError(
                f"{entry.name} does not take an image reference.", param="input_reference"
            )
        fitted = prepare_reference(reference, planned_size, fit=fit, changes=changes)
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
