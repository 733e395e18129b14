"""The capability record: one per model; it drives validation, snapping, choices and costs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, TypeAlias

Mode: TypeAlias = Literal["text", "image", "references", "video"]
"""What a request renders from; a model's sizes and seconds may differ by mode.

`text`: the prompt alone; `image`: a first-frame image (and perhaps a last frame);
`references`: subject or style images without a first frame; `video`: a source clip to extend.
"""
MODES: tuple[Mode, ...] = ("text", "image", "references", "video")


def request_mode(*, first_frame: bool, references: bool = False) -> Mode:
    """The mode of a request: a first frame makes it `image`, else subject images `references`."""
    return "image" if first_frame else "references" if references else "text"


HOW_TO_PRICE = (
    "give it a price with `sorakit prices set {model} --per-second USD` "
    "or `PUT /admin/prices/{model}`, or lift the budget"
)
"""How an operator prices a model the catalog has no price for."""


def parse_size(size: str) -> tuple[int, int]:
    """`"1280x720"` -> `(1280, 720)`; raises ValueError on anything else."""
    width, sep, height = size.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise ValueError(f"not a size: {size!r}")
    w, h = int(width), int(height)
    if w <= 0 or h <= 0:
        raise ValueError(f"not a size: {size!r}")
    return w, h


@dataclass(frozen=True)
class ModelCapabilities:
    """What one model accepts and what it costs."""

    sizes: tuple[str, ...]
    """Allowed `WxH` sizes, in the order a UI should offer them."""
    seconds: tuple[int, ...]
    """Allowed clip lengths, ascending."""
    default_size: str
    default_seconds: int
    image_reference: bool = True
    """Takes an image as the first frame."""
    text_to_video: bool = True
    """Renders from the prompt alone (False: only from a first-frame image, Gen-4 Turbo)."""
    image_sizes: tuple[str, ...] = ()
    """The sizes with a first-frame image, where they differ from `sizes` (Gen-4.5 has more)."""
    image_seconds: tuple[int, ...] = ()
    """The lengths with a first-frame image, where they differ from `seconds`."""
    reference_sizes: tuple[str, ...] = ()
    """The sizes with reference images, where fewer than `sizes` (Veo: 16:9; Grok: to 720p)."""
    reference_seconds: tuple[int, ...] = ()
    """The lengths with reference images, where fewer than `seconds` (Veo: 8 s)."""
    remix: bool = False
    extension: bool = False
    edit: bool = False
    characters: bool = False
    last_frame: bool = False
    """Takes an image as the last frame too (first-and-last-frame interpolation)."""
    reference_images: int = 0
    """How many extra reference images (subject/style) a request may carry."""
    audio: bool = True
    """Renders a soundtrack."""
    extension_seconds: tuple[int, ...] = ()
    """What one extension may add, where it differs from `seconds` (fal's Veo adds 7 s)."""
    extension_sizes: tuple[str, ...] = ()
    """The sizes an extension accepts, where it is fewer than `sizes`."""
    max_extensions: int = 0
    max_total_seconds: int = 0
    """The longest a video may grow through extensions."""
    price_per_second: dict[str, float] = field(default_factory=dict)
    """USD per output second by size; a size missing here has no known price."""
    price_per_clip: dict[tuple[str, int], float] = field(default_factory=dict)
    """USD per clip by (size, seconds), for models billed per video (Hailuo); takes precedence."""
    unpriced: Mapping[str, str] = field(default_factory=dict)
    """Why a size has no list price, for every size that has none (the catalog's tests check)."""
    render_seconds_base: float = 60.0
    render_seconds_per_second: float = 15.0
    """Expected wall time of a render: base + per_second * clip seconds (scaled by pixels)."""
    output: Literal["video", "image"] = "video"
    """What the model makes: videos (`/v1/videos`) or images (`/v1/images`)."""
    price_per_image: dict[str, float] = field(default_factory=dict)
    """USD per image by size (image models); a size missing here has no known price."""
    image_edit: bool = False
    """Takes input images (the Images API's edits); `reference_images` is how many at most."""
    mask: bool = False
    """An edit may carry a mask (a PNG whose transparent area is repainted)."""

    def modes(self) -> tuple[Mode, ...]:
        """The modes this model renders in."""
        offered = {
            "text": self.text_to_video,
            "image": self.image_reference,
            "references": self.reference_images > 0,
            "video": self.extension,
        }
        return tuple(mode for mode in MODES if offered[mode])

    def for_mode(self, mode: Mode) -> ModelCapabilities:
        """The record as a request in `mode` sees it: that mode's sizes, seconds and defaults."""
        own_sizes, own_seconds = {
            "text": ((), ()),
            "image": (self.image_sizes, self.image_seconds),
            "references": (self.reference_sizes, self.reference_seconds),
            "video": (self.extension_sizes, self.extension_seconds),
        }[mode]
        sizes, seconds = own_sizes or self.sizes, own_seconds or self.seconds
        if (sizes, seconds) == (self.sizes, self.seconds):
            return self
        return replace(
            self,
            sizes=sizes,
            seconds=seconds,
            default_size=self.default_size if self.default_size in sizes else sizes[0],
            default_seconds=(
                self.default_seconds if self.default_seconds in seconds else seconds[0]
            ),
        )

    def for_extension(self) -> ModelCapabilities:
        """The record as an extension sees it: its own lengths and sizes where the model has them."""
        return self.for_mode("video")

    @property
    def all_sizes(self) -> tuple[str, ...]:
        """Every size of every mode, the text sizes first."""
        found = [*self.sizes, *self.image_sizes, *self.reference_sizes, *self.extension_sizes]
        return tuple(dict.fromkeys(found))

    @property
    def all_seconds(self) -> tuple[int, ...]:
        """Every length of every mode, ascending."""
        found = {*self.seconds, *self.image_seconds, *self.reference_seconds}
        return tuple(sorted(found | set(self.extension_seconds)))

    def price_hint(self, model: str, size: str) -> str:
        """Why `size` has no price and how to give it one, for a refusal's message."""
        reason = self.unpriced.get(size, "no price is recorded for it")
        return f"{reason}; {HOW_TO_PRICE.format(model=model)}"

    def price(self, size: str, seconds: float) -> float | None:
        """The list price of a clip (of one image, for image models), or None where unknown."""
        if self.output == "image":
            return self.price_per_image.get(size)
        clip = self.price_per_clip.get((size, round(seconds)))
        if clip is not None and round(seconds) == seconds:
            return clip
        rate = self.price_per_second.get(size)
        return None if rate is None else round(rate * seconds, 6)

    def expected_render_seconds(self, size: str, seconds: float) -> float:
        """How long a render usually takes, for tracking and deadlines."""
        w, h = parse_size(size)
        pixel_scale = max(1.0, (w * h) / (1280 * 720))
        return (self.render_seconds_base + self.render_seconds_per_second * seconds) * pixel_scale


def image_capabilities(
    *,
    sizes: tuple[str, ...],
    default_size: str,
    price_per_image: dict[str, float],
    edit: bool = False,
    max_inputs: int = 0,
    mask: bool = False,
    unpriced: Mapping[str, str] | None = None,
    render_seconds: float = 10.0,
) -> ModelCapabilities:
    """The record of an image model (the only way to build one): no seconds, no video features."""
    if default_size not in sizes:
        raise ValueError(f"the default size {default_size!r} is not among {sizes}")
    return ModelCapabilities(
        sizes=sizes,
        seconds=(0,),
        default_size=default_size,
        default_seconds=0,
        image_reference=False,
        text_to_video=True,
        reference_images=max_inputs if edit else 0,
        audio=False,
        price_per_image=dict(price_per_image),
        unpriced=dict(unpriced or {}),
        render_seconds_base=render_seconds,
        render_seconds_per_second=0.0,
        output="image",
        image_edit=edit,
        mask=mask and edit,
    )


def with_unpriced(caps: ModelCapabilities, reason: str) -> ModelCapabilities:
    """The record with `reason` given for every size that lacks a price at some length."""
    missing = {
        size: caps.unpriced.get(size, reason)
        for size in caps.all_sizes
        if any(caps.price(size, seconds) is None for seconds in caps.all_seconds)
    }
    return replace(caps, unpriced=missing)


@dataclass(frozen=True)
class ModelEntry:
    """A public model name bound to the provider that serves it."""

    name: str
    provider: str
    provider_model: str
    capabilities: ModelCapabilities
    aliases: tuple[str, ...] = ()
    description: str = ""
