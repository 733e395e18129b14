"""The capability record: one per model; it drives validation, snapping, choices and costs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace


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
    render_seconds_base: float = 60.0
    render_seconds_per_second: float = 15.0
    """Expected wall time of a render: base + per_second * clip seconds (scaled by pixels)."""

    def for_extension(self) -> ModelCapabilities:
        """The record as an extension sees it: its own lengths where the model has them."""
        if not self.extension_seconds:
            return self
        return replace(
            self, seconds=self.extension_seconds, default_seconds=self.extension_seconds[0]
        )

    def price(self, size: str, seconds: float) -> float | None:
        """The list price of a clip, or None where the price is unknown."""
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


@dataclass(frozen=True)
class ModelEntry:
    """A public model name bound to the provider that serves it."""

    name: str
    provider: str
    provider_model: str
    capabilities: ModelCapabilities
    aliases: tuple[str, ...] = ()
    description: str = ""
