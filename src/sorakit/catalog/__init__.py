"""The catalog: public model names, the provider that serves each, and what each model can do."""

from sorakit.catalog.capabilities import ModelCapabilities, ModelEntry, image_capabilities
from sorakit.catalog.catalog import Catalog, build_catalog

__all__ = ["Catalog", "ModelCapabilities", "ModelEntry", "build_catalog", "image_capabilities"]
