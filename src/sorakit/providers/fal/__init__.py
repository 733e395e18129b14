"""The `fal` provider: fal.ai's queue API, one adapter for many video and image models.

- `_provider`: `FalProvider`, the seam over submit, status (with logs), result and cancel.
- `_models`: the per-model input maps (endpoint ids, duration types, aspect and resolution keys).
- `_images`: the image models' input maps (FLUX, Nano Banana 2) and their results.
- `_errors`: the one translation of fal answers and SDK/httpx failures into `sorakit.errors`.
- `_platform`: fal's Platform API, to find a lost submit and read a request's billed cost.

The catalog (`sorakit.catalog.fal`) reads `_models` to list the models, so this package imports
fal-client only when `FalProvider` or `translate_error` is first asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sorakit.providers.fal._models import FAL_MODELS, FalModel, build_input

if TYPE_CHECKING:
    from sorakit.providers.fal._errors import translate_error
    from sorakit.providers.fal._provider import FalProvider, RemoteRef

__all__ = ["FAL_MODELS", "FalModel", "FalProvider", "RemoteRef", "build_input", "translate_error"]


def __getattr__(name: str) -> Any:
    """Load the SDK-backed parts on first use."""
    if name in ("FalProvider", "RemoteRef"):
        from sorakit.providers.fal import _provider

        return getattr(_provider, name)
    if name == "translate_error":
        from sorakit.providers.fal import _errors

        return _errors.translate_error
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
