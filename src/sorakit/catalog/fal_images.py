"""fal.ai's image models, with their capability records and fal's list prices.

Sizes, formats and input caps come from the provider's input maps
(`sorakit.providers.fal._images`, where the sources are cited), so the catalog and what the
adapter sends cannot drift apart. Names carry the `fal/` prefix like fal's video models.

Prices, USD, as fal's model pages state them (Dec 2026):

- FLUX.1 [schnell]: $0.003 per megapixel; FLUX.1 [dev]: $0.025 per megapixel
  (fal.ai/models/fal-ai/flux-1/{schnell,dev}/llms.txt). fal bills image models "proportional
  to output resolution" (fal.ai/docs/documentation/model-apis/pricing), so a size's price is
  the rate times its megapixels.
- Nano Banana 2: $0.08 per image at 1K, 1.5 times that at 2K and twice at 4K
  (fal.ai/models/fal-ai/nano-banana-2/llms.txt); web search and high thinking, which cost
  extra, are never asked for.
"""

from __future__ import annotations

from sorakit.catalog.capabilities import ModelEntry, image_capabilities
from sorakit.providers.fal._images import (
    FLUX_DEV,
    FLUX_SCHNELL,
    NANO_BANANA_2,
    NANO_BANANA_FRAMES,
    FalImageModel,
)
from sorakit.settings import Settings

NANO_BANANA_2_PER_IMAGE = {"1K": 0.08, "2K": 0.12, "4K": 0.16}


def per_megapixel(model: FalImageModel, rate: float) -> dict[str, float]:
    """Each size's price at `rate` USD per output megapixel."""
    prices = {}
    for size in model.sizes:
        width, height = (int(v) for v in size.split("x"))
        prices[size] = round(rate * width * height / 1_000_000, 6)
    return prices


def fal_image_models(settings: Settings) -> list[ModelEntry]:  # noqa: ARG001
    """Every fal image model entry (provider `fal`), listed like fal's video models."""
    nano_prices = {
        size: NANO_BANANA_2_PER_IMAGE[resolution]
        for size, (_, resolution) in NANO_BANANA_FRAMES.items()
    }
    rows = [
        (
            "fal/flux-schnell",
            FLUX_SCHNELL,
            per_megapixel(FLUX_SCHNELL, 0.003),
            "FLUX.1 [schnell] on fal: fast text-to-image, $0.003 per megapixel",
        ),
        (
            "fal/flux-dev",
            FLUX_DEV,
            per_megapixel(FLUX_DEV, 0.025),
            "FLUX.1 [dev] on fal: text-to-image, $0.025 per megapixel",
        ),
        (
            "fal/nano-banana-2",
            NANO_BANANA_2,
            nano_prices,
            "Nano Banana 2 (Gemini image) on fal: text-to-image and edits of up to 14 images",
        ),
    ]
    return [
        ModelEntry(
            name=name,
            provider="fal",
            provider_model=model.key,
            capabilities=image_capabilities(
                sizes=model.sizes,
                default_size="1024x1024",
                price_per_image=prices,
                edit=model.edit_endpoint is not None,
                max_inputs=model.max_inputs,
                render_seconds=model.render_seconds,
            ),
            description=description,
        )
        for name, model, prices, description in rows
    ]
