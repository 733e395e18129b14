"""What the Create page offers for a model: its seconds, sizes and inputs in the request's mode,
the strict toggle's effect, and the estimate, all by the engine's own planning and pricing.

The strict toggle follows the Streamlit studio's "Strict supported durations": on, a value the
model lacks snaps to the nearest one it allows (the engine's `snap=True`) and the job says what
was adjusted; off, what was asked goes to the engine as it is, and a value the model lacks is
refused with the allowed ones (the engine's strict planning, as the Videos API does).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from sorakit.catalog.capabilities import Mode, ModelCapabilities, ModelEntry, request_mode
from sorakit.engine.planning import resolve_seconds, resolve_size
from sorakit.errors import InvalidRequestError, SorakitError
from sorakit.media.montage import LAYOUTS
from sorakit.providers.registry import is_configured
from sorakit.studio.render import Studio

SIZE_WORDS = ("landscape", "portrait", "square", "16:9", "9:16")
"""Shapes offered beside a model's sizes; the engine resolves them to the model's nearest size."""


@dataclass(frozen=True)
class ModelChoice:
    """A model as the picker shows it."""

    name: str
    provider: str
    price: str
    credential_set: bool


@dataclass(frozen=True)
class Asked:
    """What the form asks for: the picked values, the typed ones, the toggle and the inputs."""

    seconds: str | None = None
    size: str | None = None
    other_seconds: str = ""
    """Seconds typed by hand; they win over the picked ones."""
    other_size: str = ""
    strict: bool = False
    first_frames: int = 0
    """How many first-frame images are chosen (several make one montage)."""
    subjects: int = 0
    """How many subject or style images are chosen."""
    layout: str = "auto"

    @property
    def mode(self) -> Mode:
        return request_mode(first_frame=self.first_frames > 0, references=self.subjects > 0)

    def seconds_value(self) -> str | None:
        return self.other_seconds.strip() or self.seconds or None

    def size_value(self) -> str | None:
        return self.other_size.strip() or (self.size or "").strip() or None


@dataclass(frozen=True)
class Choices:
    """The seconds and sizes a model allows for a request, what is chosen, and its cost."""

    model: str
    mode: Mode
    seconds: tuple[int, ...]
    sizes: tuple[str, ...]
    shapes: tuple[tuple[str, str], ...]
    """Size words the model can honour, each with the size it means."""
    chosen_seconds: int
    chosen_size: str
    estimate: str
    asked: Asked
    adjusted: tuple[str, ...]
    """What snapping will change (strict on)."""
    refusal: str | None
    """What the engine will refuse (strict off, a typed value the model lacks)."""
    takes_first_frame: bool
    text_to_video: bool
    last_frame: bool
    """Whether the model takes a last frame: the field shows only then."""
    reference_images: int
    """How many subject or style images the model takes: the field shows only for more than 0."""
    layouts: tuple[str, ...] = LAYOUTS


def price_words(caps: ModelCapabilities) -> str:
    """A model's list price as the picker shows it."""
    rates = sorted(set(caps.price_per_second.values()))
    clips = sorted(set(caps.price_per_clip.values()))
    if rates:
        low, high = rates[0], rates[-1]
        return f"${low:.2f}/s" if low == high else f"${low:.2f}–{high:.2f}/s"
    if clips:
        return f"${clips[0]:.2f}/clip" if len(clips) == 1 else f"${clips[0]:.2f}+/clip"
    return "price unknown"


def model_choices(studio: Studio) -> list[ModelChoice]:
    """Every video model of the catalog, with its price and whether its credential is set."""
    return [
        ModelChoice(
            entry.name,
            entry.provider,
            price_words(entry.capabilities),
            is_configured(entry.provider, studio.settings),
        )
        for entry in studio.engine.catalog.videos()
    ]


def entry_for(studio: Studio, model: str | None) -> ModelEntry:
    """The model picked, or the page's default (`sora-2` where the catalog has it)."""
    names = [entry.name for entry in studio.engine.catalog.videos()]
    return studio.engine.catalog.resolve(model or ("sora-2" if "sora-2" in names else names[0]))


def _size(entry: ModelEntry, caps: ModelCapabilities, size: str, *, snap: bool) -> str:
    """The `WxH` the engine plans for `size`, or its refusal."""
    return resolve_size(size, caps, entry.name, snap=snap, changes=[], whole=entry.capabilities)


def _picked_seconds(caps: ModelCapabilities, seconds: str | None, strict: bool) -> int:
    """The seconds the picker shows: the one asked where allowed, else snapped (strict) or the
    model's default (the last model's length, which this one lacks)."""
    with contextlib.suppress(InvalidRequestError):
        if seconds:
            return resolve_seconds(seconds, caps, "", snap=strict, changes=[])
    return caps.default_seconds


def _picked_size(
    entry: ModelEntry,
    caps: ModelCapabilities,
    size: str | None,
    words: dict[str, str],
    *,
    strict: bool,
) -> str:
    size = (size or "").strip()
    if size in caps.sizes or size in words:
        return size
    if strict and size:
        with contextlib.suppress(InvalidRequestError):
            return _size(entry, caps, size, snap=True)
    return caps.default_size


def choices_for(entry: ModelEntry, asked: Asked) -> Choices:
    """What the model allows in the request's mode, and the estimate the engine would record."""
    whole = entry.capabilities
    caps = whole.for_mode(asked.mode)
    words = {}
    for word in SIZE_WORDS:  # only the shapes this model has a size for
        with contextlib.suppress(InvalidRequestError):
            words[word] = _size(entry, caps, word, snap=False)
    chosen_seconds = _picked_seconds(caps, asked.seconds, asked.strict)
    chosen_size = _picked_size(entry, caps, asked.size, words, strict=asked.strict)
    # Plan what will be sent (typed values win) as the engine will: its changes and refusals.
    changes: list[str] = []
    refusal = None
    try:
        seconds = resolve_seconds(
            asked.other_seconds.strip() or chosen_seconds,
            caps,
            entry.name,
            snap=asked.strict,
            changes=changes,
        )
        size = resolve_size(
            asked.other_size.strip() or chosen_size,
            caps,
            entry.name,
            snap=asked.strict,
            changes=changes,
            whole=whole,
        )
        price = caps.price(size, seconds)  # the engine's estimate of the planned clip
        estimate = "price unknown" if price is None else f"${price:.2f}"
    except SorakitError as exc:
        refusal, estimate = exc.message, "—"
    return Choices(
        model=entry.name,
        mode=asked.mode,
        seconds=caps.seconds,
        sizes=caps.sizes,
        shapes=tuple(words.items()),
        chosen_seconds=chosen_seconds,
        chosen_size=chosen_size,
        estimate=estimate,
        asked=asked,
        adjusted=tuple(changes),
        refusal=refusal,
        takes_first_frame=whole.image_reference,
        text_to_video=whole.text_to_video,
        last_frame=whole.last_frame,
        reference_images=whole.reference_images,
    )
