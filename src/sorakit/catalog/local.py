"""Open-weight models in the folders `SORAKIT_LOCAL_MODELS` names, served by the `local` provider.

Each folder becomes one entry whose record comes from its family's constraints
(`providers/local/_families.py`): whole seconds map to the frame counts the model takes, sizes
are the ones it was trained at. Rendering on your own GPU has no list price: each size is priced
at zero so budgets never refuse a local job. Reading the folders needs no torch.
"""

from __future__ import annotations

from sorakit.catalog.capabilities import ModelCapabilities, ModelEntry
from sorakit.providers.local._folders import LocalModel, discover
from sorakit.settings import Settings


def local_models(settings: Settings) -> list[ModelEntry]:
    """One entry per model folder; a wrong folder is a `ConfigurationError` naming the setting."""
    return [
        ModelEntry(
            name=model.name,
            provider="local",
            provider_model=model.name,
            capabilities=local_capabilities(model),
            description=f"{model.family.label} from {model.folder.name}, on this machine",
        )
        for model in discover(settings)
    ]


def local_capabilities(model: LocalModel) -> ModelCapabilities:
    """The record of one local model."""
    seconds = model.family.seconds_range(model.fps)
    per_step = 1.5  # a first guess; the provider reports measured times once a render runs
    return ModelCapabilities(
        sizes=model.sizes,
        seconds=seconds,
        default_size=model.sizes[0],
        default_seconds=min(seconds[-1], 5),
        text_to_video=model.takes_text,
        image_reference=model.takes_image,
        last_frame=model.family.last_image,
        audio=False,
        price_per_second=dict.fromkeys(model.sizes, 0.0),
        render_seconds_base=model.steps * per_step,
        render_seconds_per_second=model.steps * per_step / 4,
    )
