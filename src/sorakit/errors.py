"""Every error sorakit raises, in one tree.

```
SorakitError
├── ConfigurationError            settings or credentials are missing or wrong
├── InvalidRequestError           refused before anything was sent or paid for
│   ├── ReferenceImageError       the reference image cannot be read or fitted
│   ├── BudgetExceededError       the job's estimate would pass a budget
│   └── MediaError                a media file is unreadable, empty or cannot be joined
├── AuthenticationError           no API key, or an unknown or revoked one (gateway)
├── PermissionDeniedError         the key may not do this (a model it may not use, admin only)
├── LimitExceededError            the key's rate or concurrency limit is reached (gateway, 429)
├── NotFoundError                 no such job, video, character or model
├── InvalidStateError             the job exists but is not in a state that allows this
├── ProviderError                 the provider refused or broke (translated at the provider boundary)
│   ├── ProviderAuthError         the provider rejected our credential
│   ├── ProviderBadRequestError   the provider rejected the request as invalid
│   └── TransientProviderError    worth retrying: nothing is known to be lost
│       ├── RateLimitedError      HTTP 429, with the server's Retry-After
│       ├── ProviderUnavailableError   HTTP 5xx
│       ├── ProviderConnectionError    reset, refused or timed out on the wire
│       └── ContentDownloadError  a download was truncated or failed its checks
├── JobFailedError                the job ran and the provider reports it failed
│   └── ModerationBlockedError    failed with `moderation_blocked`
└── JobTimeoutError               the deadline passed; the job is still in the ledger, resumable
```

Catch `SorakitError` for everything::

    try:
        video = client.generate("a calico cat playing a piano")
    except sorakit.JobFailedError as exc:
        print(exc.code, exc.message)
    except sorakit.SorakitError as exc:
        print(f"sorakit: {exc}")

The HTTP server maps this tree to the OpenAI error envelope in one handler
(`sorakit.server.errors`); the CLI maps it to one line and an exit code in one place
(`sorakit.cli.errors`).
"""

from __future__ import annotations

from collections.abc import Sequence


class SorakitError(Exception):
    """Base class of every sorakit error; `str(exc)` is a sentence fit for a user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(SorakitError):
    """Settings or credentials are missing or wrong (the message names the variable)."""


class InvalidRequestError(SorakitError):
    """A request was refused before anything was sent or paid for.

    `param` names the offending field (as the OpenAI envelope does) and `allowed` lists the
    values that would have been accepted, when there is such a list.
    """

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        allowed: Sequence[str] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.param = param
        self.allowed = tuple(allowed) if allowed is not None else None
        self.code = code


class ReferenceImageError(InvalidRequestError):
    """The reference image cannot be read, is too large, or cannot be fitted."""


class BudgetExceededError(InvalidRequestError):
    """A job's estimated cost would take the spend past a budget; nothing was sent or paid."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message, param=param, code="budget_exceeded")


class MediaError(InvalidRequestError):
    """A media file is unreadable, empty, has no video stream, or cannot be joined as asked."""


class AuthenticationError(SorakitError):
    """The gateway needs an API key, and none, an unknown one or a revoked one was sent."""


class PermissionDeniedError(SorakitError):
    """The API key is valid but may not do this."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class LimitExceededError(SorakitError):
    """A key's requests-per-minute or concurrency limit is reached; nothing was sent upstream."""

    def __init__(self, message: str, *, code: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


class NotFoundError(SorakitError):
    """No such job, video, character or model."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class InvalidStateError(SorakitError):
    """The job exists but its state does not allow this (content before completion, say)."""


class ProviderError(SorakitError):
    """The provider refused or broke; raised only after translation at the provider boundary."""

    transient = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status_code: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status_code = status_code
        self.code = code


class ProviderAuthError(ProviderError):
    """The provider rejected our credential (HTTP 401/403)."""


class ProviderBadRequestError(ProviderError):
    """The provider rejected the request as invalid (HTTP 400/404/422)."""


class TransientProviderError(ProviderError):
    """A failure worth retrying after a pause: nothing is known to be lost."""

    transient = True

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status_code: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider, status_code=status_code, code=code)
        self.retry_after = retry_after


class RateLimitedError(TransientProviderError):
    """HTTP 429; `retry_after` holds the server's Retry-After in seconds, if it sent one."""


class ProviderUnavailableError(TransientProviderError):
    """HTTP 5xx from the provider."""


class ProviderConnectionError(TransientProviderError):
    """The connection was refused, reset or timed out before a full answer arrived."""


class ContentDownloadError(TransientProviderError):
    """A download was truncated or its bytes failed the checks; the file was not kept."""


class JobFailedError(SorakitError):
    """The job ran and the provider reports it failed, with the provider's code and reason."""

    def __init__(self, job_id: str, code: str | None, message: str | None) -> None:
        self.job_id = job_id
        self.code = code or "failed"
        self.reason = message or "the provider gave no reason"
        super().__init__(f"job {job_id} failed ({self.code}): {self.reason}")


class ModerationBlockedError(JobFailedError):
    """The job failed with `moderation_blocked`."""


class JobTimeoutError(SorakitError):
    """The tracking deadline passed; the job stays in the ledger and `sorakit jobs resume` goes on."""

    def __init__(self, job_id: str, waited_seconds: float, message: str | None = None) -> None:
        self.job_id = job_id
        self.waited_seconds = waited_seconds
        super().__init__(
            message
            or f"job {job_id} did not finish within {waited_seconds:.0f} s; "
            "it is still in the ledger: run `sorakit jobs resume` to go on waiting"
        )


def job_failed(job_id: str, code: str | None, message: str | None) -> JobFailedError:
    """The right `JobFailedError` subclass for a provider's failure code."""
    if code == "moderation_blocked":
        return ModerationBlockedError(job_id, code, message)
    return JobFailedError(job_id, code, message)
