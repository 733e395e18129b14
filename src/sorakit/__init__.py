"""sorakit: the Sora Videos API, kept alive.

>>> import sorakit
>>> with sorakit.Client() as client:
...     job = client.generate("a calico cat playing a piano on stage", seconds=4)
>>> job.video_path
"""

from typing import TYPE_CHECKING, Any

from sorakit._version import __version__
from sorakit.errors import (
    ConfigurationError,
    ContentDownloadError,
    InvalidRequestError,
    InvalidStateError,
    JobFailedError,
    JobTimeoutError,
    MediaError,
    ModerationBlockedError,
    NotFoundError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    ReferenceImageError,
    SorakitError,
    TransientProviderError,
)

if TYPE_CHECKING:
    from sorakit.client import AsyncClient, Client
    from sorakit.ledger import JobRecord as Job, JobStatus
    from sorakit.settings import Settings, get_settings

# The engine pulls in SQLAlchemy, Alembic and PyAV: import it when first used, so that
# `import sorakit` and the CLI's start stay light.
_LAZY = {
    "AsyncClient": ("sorakit.client", "AsyncClient"),
    "Client": ("sorakit.client", "Client"),
    "Job": ("sorakit.ledger", "JobRecord"),
    "JobStatus": ("sorakit.ledger", "JobStatus"),
    "Settings": ("sorakit.settings", "Settings"),
    "get_settings": ("sorakit.settings", "get_settings"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sorakit' has no attribute {name!r}")


__all__ = [
    "AsyncClient",
    "Client",
    "ConfigurationError",
    "ContentDownloadError",
    "InvalidRequestError",
    "InvalidStateError",
    "Job",
    "JobFailedError",
    "JobStatus",
    "JobTimeoutError",
    "MediaError",
    "ModerationBlockedError",
    "NotFoundError",
    "ProviderAuthError",
    "ProviderBadRequestError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderUnavailableError",
    "RateLimitedError",
    "ReferenceImageError",
    "Settings",
    "SorakitError",
    "TransientProviderError",
    "__version__",
    "get_settings",
]
