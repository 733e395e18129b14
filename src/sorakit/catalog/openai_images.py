"""OpenAI's image models, served by the `openai` provider's Images API when it is configured.

Entries exist only when `OPENAI_BASE_URL` is set (the provider's own condition), and then they
carry the real names `gpt-image-1`, `gpt-image-1-mini` and `dall-e-3`, which the offline
`sim-image` no longer aliases (`sorakit.catalog.images`).

List prices per image, USD (OpenAI's model pages, developers.openai.com/api/docs/models, seen
Dec 2026): gpt-image-1 at medium quality $0.042 (1024x1024) and $0.063 (1536x1024, 1024x1536),
the same table fal's gpt-image-1 pages repeat; gpt-image-1-mini at medium $0.011 and $0.015;
dall-e-3 at standard quality $0.04 (1024x1024) and $0.08 (1792x1024, 1024x1792). The provider
asks for `quality: medium` (standard for DALL-E 3), so the estimate is the price. gpt-image-1
edits take up to 16 input images and a mask; DALL-E 3 makes no edits.
"""

from __future__ import annotations

from sorakit.catalog.capabilities import ModelEntry, image_capabilities
from sorakit.settings import Settings

GPT_IMAGE_SIZES = ("1024x1024", "1536x1024", "1024x1536")
DALL_E_3_SIZES = ("1024x1024", "1792x1024", "1024x1792")
GPT_IMAGE_MAX_INPUTS = 16


def openai_image_models(settings: Settings) -> list[ModelEntry]:
    """The image entries of the `openai` provider, or none when it is not configured."""
    if not settings.openai_base_url:
        return []
    rows = [
        (
            "gpt-image-1",
            image_capabilities(
                sizes=GPT_IMAGE_SIZES,
                default_size="1024x1024",
                price_per_image={"1024x1024": 0.042, "1536x1024": 0.063, "1024x1536": 0.063},
                edit=True,
                max_inputs=GPT_IMAGE_MAX_INPUTS,
                mask=True,
                render_seconds=40.0,
            ),
            "GPT Image 1 through the configured OpenAI-compatible images endpoint",
        ),
        (
            "gpt-image-1-mini",
            image_capabilities(
                sizes=GPT_IMAGE_SIZES,
                default_size="1024x1024",
                price_per_image={"1024x1024": 0.011, "1536x1024": 0.015, "1024x1536": 0.015},
                edit=True,
                max_inputs=GPT_IMAGE_MAX_INPUTS,
                mask=True,
                render_seconds=20.0,
            ),
            "GPT Image 1 mini (cheaper) through the configured images endpoint",
        ),
        (
            "dall-e-3",
            image_capabilities(
                sizes=DALL_E_3_SIZES,
                default_size="1024x1024",
                price_per_image={"1024x1024": 0.04, "1792x1024": 0.08, "1024x1792": 0.08},
                render_seconds=20.0,
            ),
            "DALL-E 3 through the configured images endpoint (generations only)",
        ),
    ]
    return [
        ModelEntry(
            name=name,
            provider="openai",
            provider_model=name,
            capabilities=caps,
            description=description,
        )
        for name, caps, description in rows
    ]
