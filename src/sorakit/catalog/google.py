"""Google's video models: Gemini Omni Flash (Gemini API) and Veo 3.1 (Vertex AI).

Figures from `shared/reference/providers.md` §2 and §3.3 (researched 2026-11-23). Omni is
token-billed at about $0.10 per output second at 720p; 1080p and 4k are upscales whose price was
not published, so none is guessed. Omni 1.2 is said to allow 15 s per call [3P only]; the 3–10 s
the official skill validates is what is entered here. Veo extension on Vertex grows a clip to at
most 30 s (Vertex doc); the per-step seconds reuse the 4/6/8 table, which is an inference.
Both take a last frame only together with a first frame, and up to 3 reference images.
"""

from __future__ import annotations

from sorakit.catalog.capabilities import ModelCapabilities, ModelEntry, with_unpriced

OMNI_SIZES = (
    "1280x720",
    "720x1280",
    "1920x1080",
    "1080x1920",
    "640x360",
    "360x640",
    "3840x2160",
    "2160x3840",
)
VEO_SIZES = ("1280x720", "720x1280", "1920x1080", "1080x1920", "3840x2160", "2160x3840")

OMNI_FLASH = with_unpriced(
    ModelCapabilities(
        sizes=OMNI_SIZES,
        seconds=tuple(range(3, 11)),
        default_size="1280x720",
        default_seconds=8,
        image_reference=True,
        remix=True,
        extension=True,
        edit=True,
        last_frame=True,  # `<LAST_FRAME>`, with a first frame
        reference_images=3,  # `<IMAGE_REF_n>`; 3 on 1.1 [3P], the preview took 5
        audio=True,
        max_extensions=10,
        max_total_seconds=40,
        price_per_second={"1280x720": 0.10, "720x1280": 0.10, "640x360": 0.10, "360x640": 0.10},
        render_seconds_base=120.0,
        render_seconds_per_second=45.0,
    ),
    "Google has not published the price of Omni's 1080p and 4k upscales",
)


def _veo(rate: float, *, base: float, per_second: float) -> ModelCapabilities:
    caps = ModelCapabilities(
        sizes=VEO_SIZES,
        seconds=(4, 6, 8),
        default_size="1280x720",
        default_seconds=8,
        image_reference=True,
        extension=True,
        last_frame=True,  # `lastFrame` needs a first frame (`image`)
        reference_images=3,  # `ASSET` images, 8 s and 16:9 only (the provider refuses others)
        reference_sizes=tuple(size for size in VEO_SIZES if _landscape(size)),
        reference_seconds=(8,),
        audio=True,
        max_extensions=6,
        max_total_seconds=30,
        price_per_second=dict.fromkeys(VEO_SIZES[:4], rate),
        render_seconds_base=base,
        render_seconds_per_second=per_second,
    )
    return with_unpriced(caps, "Google has not published a 4k price for Veo 3.1")


def _landscape(size: str) -> bool:
    width, _, height = size.partition("x")
    return int(width) > int(height)


VEO_3_1 = _veo(0.40, base=45.0, per_second=10.0)
VEO_3_1_FAST = _veo(0.15, base=25.0, per_second=5.0)


def google_models() -> list[ModelEntry]:
    """Gemini Omni Flash on the `gemini` provider and Veo 3.1 on the `vertex` provider."""
    return [
        ModelEntry(
            name="gemini-omni-1.2-flash",
            provider="gemini",
            provider_model="gemini-omni-1.2-flash",
            capabilities=OMNI_FLASH,
            aliases=("gemini-omni-flash",),
            description="Gemini Omni Flash 1.2: video with audio, edits through the conversation",
        ),
        ModelEntry(
            name="gemini-omni-1.1-flash",
            provider="gemini",
            provider_model="gemini-omni-1.1-flash",
            capabilities=OMNI_FLASH,
            description="Gemini Omni Flash 1.1 (GA 2026-08-27)",
        ),
        ModelEntry(
            name="veo-3.1-generate-001",
            provider="vertex",
            provider_model="veo-3.1-generate-001",
            capabilities=VEO_3_1,
            aliases=("veo-3.1",),
            description="Veo 3.1 on Vertex AI: 4-8 s, first and last frame, references, audio",
        ),
        ModelEntry(
            name="veo-3.1-fast-generate-001",
            provider="vertex",
            provider_model="veo-3.1-fast-generate-001",
            capabilities=VEO_3_1_FAST,
            aliases=("veo-3.1-fast",),
            description="Veo 3.1 Fast on Vertex AI: cheaper and quicker",
        ),
    ]


def capabilities_of(provider_model: str) -> ModelCapabilities | None:
    """The capability record of a Google model id, or None for an unknown one."""
    for entry in google_models():
        if entry.provider_model == provider_model:
            return entry.capabilities
    return None
