"""sorakit: the Sora Videos API, kept alive.

>>> import sorakit
>>> with sorakit.Client() as client:
...     job = client.generate("a calico cat playing a piano on stage", seconds=4)
>>> job.video_path
"""

from sorakit._version import __version__
from sorakit.client import AsyncClient, Client
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
from sorakit.ledger import JobRecord as Job, JobStatus
from sorakit.settings import Settings, get_settings

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
