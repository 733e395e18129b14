"""Providers: the one seam between the engine and whoever renders a video (see `base`)."""

from sorakit.providers.base import (
    Character,
    Download,
    JobKind,
    Provider,
    ReferenceImage,
    RemoteJob,
    SourceVideo,
    SubmitRequest,
)
from sorakit.providers.registry import PROVIDERS, ProviderPool

__all__ = [
    "PROVIDERS",
    "Character",
    "Download",
    "JobKind",
    "Provider",
    "ProviderPool",
    "ReferenceImage",
    "RemoteJob",
    "SourceVideo",
    "SubmitRequest",
]
