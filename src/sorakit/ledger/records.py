"""Plain snapshots of ledger rows, safe to pass around after the session closes."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from sorakit.ledger.tables import ApiKeyRow, AssetRow, EventRow, JobRow, PipelineRow


class JobStatus(enum.StrEnum):
    """Where a job stands in the ledger."""

    #: A row exists, nothing confirmed by the provider yet (a create may be in flight or lost).
    PENDING = "pending"
    #: The provider accepted the job and has not started it.
    QUEUED = "queued"
    #: The provider is rendering.
    IN_PROGRESS = "in_progress"
    #: The provider finished; the assets are being archived.
    FETCHING = "fetching"
    #: Finished and archived: the files are on disk and checked.
    COMPLETED = "completed"
    #: The provider reports a failure (its code and reason are kept).
    FAILED = "failed"
    #: Stopped on request; nothing more will happen.
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


@dataclass(frozen=True)
class AssetRecord:
    """An archived file."""

    variant: str
    path: str
    size: int
    sha256: str
    media_type: str
    created_at: float

    @classmethod
    def from_row(cls, row: AssetRow) -> AssetRecord:
        return cls(row.variant, row.path, row.size, row.sha256, row.media_type, row.created_at)


@dataclass(frozen=True)
class EventRecord:
    """A status change."""

    at: float
    status: str
    progress: int | None
    detail: str | None

    @classmethod
    def from_row(cls, row: EventRow) -> EventRecord:
        return cls(row.at, row.status, row.progress, row.detail)


@dataclass(frozen=True)
class JobRecord:
    """A job as the ledger holds it."""

    id: str
    kind: str
    status: JobStatus
    model: str
    provider: str
    provider_model: str
    prompt: str
    seconds: int
    video_seconds: str | None
    size: str
    idempotency_key: str
    client_key: str | None
    remote_id: str | None
    source_id: str | None
    progress: int
    error_code: str | None
    error_message: str | None
    estimated_cost: float | None
    cost: float | None
    expected_render_seconds: float | None
    options: dict[str, Any]
    submit_attempts: int
    created_at: float
    updated_at: float
    submitted_at: float | None
    completed_at: float | None
    assets: dict[str, AssetRecord] = field(default_factory=dict)
    pipeline_id: str | None = None
    pipeline_step: str | None = None
    owner: str | None = None
    credential_id: str | None = None

    @property
    def cost_unknown(self) -> bool:
        """Billed, or billable, at a price nobody knows: no charge reported and no estimate."""
        billable = self.status is JobStatus.COMPLETED or not self.status.finished
        if self.status is JobStatus.CANCELLED:
            billable = self.remote_id is not None  # the provider had it (as the spend counts)
        return billable and self.cost is None and self.estimated_cost is None

    @classmethod
    def from_row(cls, row: JobRow, assets: dict[str, AssetRecord] | None = None) -> JobRecord:
        return cls(
            id=row.id,
            kind=row.kind,
            status=JobStatus(row.status),
            model=row.model,
            provider=row.provider,
            provider_model=row.provider_model,
            prompt=row.prompt,
            seconds=row.seconds,
            video_seconds=row.video_seconds,
            size=row.size,
            idempotency_key=row.idempotency_key,
            client_key=row.client_key,
            remote_id=row.remote_id,
            source_id=row.source_id,
            progress=row.progress,
            error_code=row.error_code,
            error_message=row.error_message,
            estimated_cost=row.estimated_cost,
            cost=row.cost,
            expected_render_seconds=row.expected_render_seconds,
            options=dict(row.options or {}),
            submit_attempts=row.submit_attempts,
            created_at=row.created_at,
            updated_at=row.updated_at,
            submitted_at=row.submitted_at,
            completed_at=row.completed_at,
            assets=assets or {},
            pipeline_id=row.pipeline_id,
            pipeline_step=row.pipeline_step,
            owner=row.owner,
            credential_id=row.credential_id,
        )

    @property
    def total_seconds(self) -> str:
        """The clip's length as the Videos API reports it (the stitched total for extensions)."""
        return self.video_seconds or str(self.seconds)

    @property
    def video_path(self) -> str | None:
        """The archived MP4, once there is one."""
        asset = self.assets.get("video")
        return asset.path if asset else None


class PipelineStatus(enum.StrEnum):
    """Where a pipeline stands."""

    #: Recorded; being planned or running its jobs (resumable).
    RUNNING = "running"
    #: Every step done and the output written.
    COMPLETED = "completed"
    #: Stopped by a failure it cannot get past; finished steps are kept and resume retries.
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class PipelineRecord:
    """A pipeline as the ledger holds it."""

    id: str
    kind: str
    status: PipelineStatus
    title: str
    spec: dict[str, Any]
    state: dict[str, Any]
    budget_usd: float | None
    output: str | None
    error_message: str | None
    created_at: float
    updated_at: float
    owner: str | None = None
    """The gateway API key the pipeline was made for (None: made without one)."""

    @classmethod
    def from_row(cls, row: PipelineRow) -> PipelineRecord:
        return cls(
            id=row.id,
            kind=row.kind,
            status=PipelineStatus(row.status),
            title=row.title,
            spec=dict(row.spec or {}),
            state=dict(row.state or {}),
            budget_usd=row.budget_usd,
            output=row.output,
            error_message=row.error_message,
            created_at=row.created_at,
            updated_at=row.updated_at,
            owner=row.owner,
        )


@dataclass(frozen=True)
class Spend:
    """Money in the ledger: what finished jobs cost and what unfinished ones hold in reserve."""

    committed: float
    reserved: float
    unpriced_jobs: int = 0
    """Jobs counted at $0 in both because their price is unknown (made without a budget)."""

    @property
    def total(self) -> float:
        return self.committed + self.reserved


def amount_text(usd: float, unpriced_jobs: int = 0) -> str:
    """`$1.20`, or `$1.20 + 2 jobs of unknown price` where some jobs' prices are unknown."""
    if not unpriced_jobs:
        return f"${usd:.2f}"
    return f"${usd:.2f} + {unpriced_jobs} job{'s' * (unpriced_jobs > 1)} of unknown price"


@dataclass(frozen=True)
class ApiKeyRecord:
    """A gateway API key as stored (never with its secret)."""

    id: str
    name: str
    prefix: str
    secret_hash: str
    admin: bool
    budget_usd: float | None
    rpm: float | None
    concurrency: int | None
    models: tuple[str, ...] | None
    created_at: float
    revoked_at: float | None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    """Encrypted; never shown."""

    @classmethod
    def from_row(cls, row: ApiKeyRow) -> ApiKeyRecord:
        return cls(
            id=row.id,
            name=row.name,
            prefix=row.prefix,
            secret_hash=row.secret_hash,
            admin=row.admin,
            budget_usd=row.budget_usd,
            rpm=row.rpm,
            concurrency=row.concurrency,
            models=tuple(row.models) if row.models is not None else None,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
            webhook_url=row.webhook_url,
            webhook_secret=row.webhook_secret,
        )

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def public(self) -> dict[str, Any]:
        """The key as JSON-able data for people and APIs: everything but its hash."""
        hidden = ("secret_hash", "webhook_secret")
        data = {name: value for name, value in vars(self).items() if name not in hidden}
        data["models"] = list(self.models) if self.models is not None else None
        return data
