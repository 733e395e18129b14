"""The offline image model: `sim-image`, served by the simulator, and the OpenAI image names.

`gpt-image-1`, `gpt-image-1-mini` and `dall-e-3` are aliases of `sim-image` only where no other
entry of the catalog has that name (an OpenAI-compatible images endpoint, when configured, has
its own `gpt-image-1`), so an app that sends them works offline and is routed to a real model
as soon as one is configured.
"""

from __future__ import annotations

from collections.abc import Collection

from sorakit.catalog.capabilities import ModelEntry, image_capabilities

SIM_IMAGE = "sim-image"
OPENAI_IMAGE_NAMES = ("gpt-image-1", "gpt-image-1-mini", "dall-e-3")
"""The Images API's model names an old app may send."""
SIM_IMAGE_SIZES = (
    "1024x1024",
    "1536x1024",
    "1024x1536",
    "512x512",
    "256x256",
    "1792x1024",
    "1024x1792",
)

SIM_IMAGE_CAPABILITIES = image_capabilities(
    sizes=SIM_IMAGE_SIZES,
    default_size="1024x1024",
    price_per_image=dict.fromkeys(SIM_IMAGE_SIZES, 0.0),
    edit=True,
    max_inputs=4,
    mask=True,
    render_seconds=1.0,
)


def simulator_image_models(taken: Collection[str] = ()) -> list[ModelEntry]:
    """`sim-image`, with the OpenAI image names as aliases except those `taken` by other entries."""
    aliases = tuple(name for name in OPENAI_IMAGE_NAMES if name not in taken and name != SIM_IMAGE)
    return [
        ModelEntry(
            name=SIM_IMAGE,
            provider="simulator",
            provider_model=SIM_IMAGE,
            capabilities=SIM_IMAGE_CAPABILITIES,
            aliases=aliases,
            description="Simulated images, offline: the prompt drawn on a picture, edits and masks",
        )
    ]
