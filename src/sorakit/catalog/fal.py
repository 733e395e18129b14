"""The video models sorakit drives on fal.ai, with their capability records and fal's prices.

Source: shared/reference/providers.md §4.3 (fal model pages, Nov 2026) and §3.3 (Veo 3.1 on fal).
Seconds and sizes come from the provider's input maps (`sorakit.providers.fal._models`), so the
catalog and what the adapter sends cannot drift apart. Names carry a `fal/` prefix because other
providers (Runway, Google) serve models of the same families.

Prices are USD per output second with the soundtrack on (the adapter always asks for audio
where the schema has a switch). A size missing from `price_per_second` has no published price:
Seedance 480p, LTX-2.3 above 1080p, Veo 3.1 Fast on fal. Hailuo 2.3 is billed per clip ($0.28
per 6 s, $0.56 per 10 s at 768p; Pro $0.49 per 6 s clip at 1080p), so their records hold
`price_per_clip` instead.

Last frames and reference images also come from the input maps: `last_frame` is set exactly for
the models with an end-frame field or a first-and-last-frame endpoint, and `reference_images`
is the cap of the model's reference-to-video endpoint.
"""

from __future__ import annotations

from sorakit.catalog.capabilities import ModelCapabilities, ModelEntry, with_unpriced
from sorakit.providers.fal._models import (
    GEMINI_OMNI_FLASH,
    HAILUO_2_3,
    HAILUO_2_3_PRO,
    HAPPY_HORSE,
    KLING_3_PRO,
    LTX_2_3,
    SEEDANCE_2,
    SEEDANCE_2_FAST,
    VEO_3_1,
    VEO_3_1_FAST,
    WAN_2_7,
    FalModel,
)

VEO_MAX_EXTENSIONS, VEO_MAX_TOTAL_SECONDS = 20, 148
"""+7 s per call through `fal-ai/veo3.1/fast/extend-video` (720p). fal states no cap; these are
the Gemini API's old limits (20 calls, 8 + 20 * 7 s), kept as a hint (providers.md §3.3 [MEM])."""


def _by_resolution(model: FalModel, rates: dict[str, float]) -> dict[str, float]:
    """Per-size prices from per-resolution ones (`{"720": 0.14}` -> every 720p size)."""
    out: dict[str, float] = {}
    for size in model.sizes:
        short = min(int(v) for v in size.split("x"))
        rate = rates.get(str(short))
        if rate is not None:
            out[size] = rate
    return out


def _caps(
    model: FalModel,
    *,
    default_seconds: int,
    rates: dict[str, float],
    clips: dict[tuple[str, int], float] | None = None,
    audio: bool = True,
    max_extensions: int = 0,
    max_total_seconds: int = 0,
    unpriced: str = "fal publishes no price at this size",
) -> ModelCapabilities:
    default_size = "1280x720" if "1280x720" in model.sizes else model.sizes[0]
    caps = ModelCapabilities(
        sizes=model.sizes,
        seconds=model.seconds,
        default_size=default_size,
        default_seconds=default_seconds,
        image_reference=model.image_endpoint is not None,
        last_frame=model.last_frame,
        reference_images=model.max_references,
        audio=audio,
        extension=model.extend_endpoint is not None,
        extension_seconds=model.extend_seconds,
        extension_sizes=model.extend_sizes,
        max_extensions=max_extensions,
        max_total_seconds=max_total_seconds,
        price_per_second=_by_resolution(model, rates),
        price_per_clip=dict(clips or {}),
        render_seconds_base=model.render_base,
        render_seconds_per_second=model.render_per_second,
    )
    return with_unpriced(caps, unpriced)


def fal_models() -> list[ModelEntry]:
    """Every fal model entry (provider `fal`)."""
    rows: list[tuple[str, FalModel, ModelCapabilities, str]] = [
        (
            "fal/kling-3.0-pro",
            KLING_3_PRO,
            # $0.112/s silent, $0.168/s with audio, $0.196/s with voice [DOC]; end_image_url.
            _caps(KLING_3_PRO, default_seconds=5, rates={"1080": 0.168}),
            "Kling 3.0 Pro on fal: 3-15 s, native audio, 16:9 / 9:16 / 1:1",
        ),
        (
            "fal/seedance-2.0",
            SEEDANCE_2,
            # $0.3034/s at 720p, audio at the same price [DOC]; up to 9 reference images.
            _caps(SEEDANCE_2, default_seconds=5, rates={"720": 0.3034}),
            "Seedance 2.0 on fal: 4-15 s, 480p/720p, seven aspect ratios, audio",
        ),
        (
            "fal/seedance-2.0-fast",
            SEEDANCE_2_FAST,
            _caps(SEEDANCE_2_FAST, default_seconds=5, rates={"720": 0.2419}),
            "Seedance 2.0 Fast on fal: cheaper and quicker Seedance",
        ),
        (
            "fal/happy-horse-1.0",
            HAPPY_HORSE,
            _caps(HAPPY_HORSE, default_seconds=5, rates={"720": 0.14, "1080": 0.28}),
            "Happy Horse 1.0 (Alibaba) on fal: 3-15 s, 720p/1080p, native audio",
        ),
        (
            "fal/veo-3.1",
            VEO_3_1,
            # fal resale with audio: $0.40/s at 720p/1080p, $0.60/s at 4k [DOC fal, §3.3].
            _caps(
                VEO_3_1,
                default_seconds=8,
                rates={"720": 0.40, "1080": 0.40, "2160": 0.60},
                max_extensions=VEO_MAX_EXTENSIONS,
                max_total_seconds=VEO_MAX_TOTAL_SECONDS,
            ),
            "Veo 3.1 on fal: 4/6/8 s, 720p to 4k, 16:9 / 9:16, audio, +7 s extensions at 720p",
        ),
        (
            "fal/veo-3.1-fast",
            VEO_3_1_FAST,
            _caps(
                VEO_3_1_FAST,
                default_seconds=8,
                rates={},
                max_extensions=VEO_MAX_EXTENSIONS,
                max_total_seconds=VEO_MAX_TOTAL_SECONDS,
                unpriced="fal publishes no price for Veo 3.1 Fast",
            ),
            "Veo 3.1 Fast on fal: text-to-video, +7 s extensions at 720p (no price recorded)",
        ),
        (
            "fal/wan-2.7",
            WAN_2_7,
            _caps(WAN_2_7, default_seconds=5, rates={"720": 0.10, "1080": 0.15}),
            "Wan 2.7 on fal: 2-15 s, 720p/1080p, open weights",
        ),
        (
            "fal/ltx-2.3",
            LTX_2_3,
            # $0.08/s text-to-video, $0.06/s image-to-video at 1080p [DOC]; the dearer is kept.
            _caps(LTX_2_3, default_seconds=6, rates={"1080": 0.08}),
            "LTX-2.3 on fal: 6/8/10 s, 1080p to 2160p, audio, open weights",
        ),
        (
            "fal/hailuo-2.3",
            HAILUO_2_3,
            # Billed per video: $0.28 for 6 s, $0.56 for 10 s at 768p [DOC].
            _caps(
                HAILUO_2_3,
                default_seconds=6,
                rates={},
                clips={("1366x768", 6): 0.28, ("1366x768", 10): 0.56},
                audio=False,
            ),
            "Hailuo 2.3 Standard (MiniMax) on fal: 6 or 10 s at 768p, no audio",
        ),
        (
            "fal/hailuo-2.3-pro",
            HAILUO_2_3_PRO,
            # $0.49 per video [DOC]; the schema has no duration or size: 6 s at 1080p.
            _caps(
                HAILUO_2_3_PRO,
                default_seconds=6,
                rates={},
                clips={("1920x1080", 6): 0.49},
                audio=False,
            ),
            "Hailuo 2.3 Pro (MiniMax) on fal: 6 s at 1080p, no audio",
        ),
        (
            "fal/gemini-omni-flash",
            GEMINI_OMNI_FLASH,
            # about $0.125-0.13/s, billed in tokens [DOC]; the upper figure is kept.
            _caps(GEMINI_OMNI_FLASH, default_seconds=8, rates={"720": 0.13}),
            "Gemini Omni Flash on fal: 3-10 s at 720p, 16:9 / 9:16, native audio",
        ),
    ]
    return [
        ModelEntry(
            name=name,
            provider="fal",
            provider_model=model.key,
            capabilities=caps,
            description=description,
        )
        for name, model, caps, description in rows
    ]
