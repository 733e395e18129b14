"""The ledger's tables (SQLAlchemy 2 declarative); migrations in `migrations/versions` own the schema."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of the ledger tables."""


class JobRow(Base):
    """One video job: what was asked, where it went, where it stands, what it cost."""

    __tablename__ = "jobs"
    # A tenant's library, newest first, a page at a time (m008).
    __table_args__ = (Index("ix_jobs_owner_created_at", "owner", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    model: Mapped[str] = mapped_column(String(128))
    provider: Mapped[str] = mapped_column(String(64))
    provider_model: Mapped[str] = mapped_column(String(128))
    prompt: Mapped[str] = mapped_column(Text)
    seconds: Mapped[int] = mapped_column(Integer)
    video_seconds: Mapped[str | None] = mapped_column(String(16), nullable=True)
    size: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    client_key: Mapped[str | None] = mapped_column(String(256), unique=True, nullable=True)
    remote_id: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    source_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    estimated_cost: Mapped[float | None] = mapped_column(Float, nullable=True)
    cost: Mapped[float | None] = mapped_column(Float, nullable=True)
    expected_render_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    submit_attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[float] = mapped_column(Float, index=True)
    updated_at: Mapped[float] = mapped_column(Float)
    submitted_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    completed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    pipeline_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    pipeline_step: Mapped[str | None] = mapped_column(String(64), nullable=True)
    owner: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    """The gateway API key that made the job (None when the gateway runs without keys)."""
    lease_owner: Mapped[str | None] = mapped_column(String(96), nullable=True)
    """The worker (`host:pid:nonce`) driving the job, so two processes never both do."""
    lease_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    credential_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The upstream credential that created the job; every follow-up call uses it."""
    scope_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    """The budget scope (a project: `BudgetScopeRow`) the job was made under, if any (m009)."""


class PipelineRow(Base):
    """A composition of jobs (a long video, a storyboard, a batch...): its request and progress.

    `spec` is what was asked (and the plan, once made); `state` is what has been done, so a
    resumed pipeline continues where it stopped. Its jobs point back at it by `pipeline_id`.
    """

    __tablename__ = "pipelines"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    title: Mapped[str] = mapped_column(Text)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    budget_usd: Mapped[float | None] = mapped_column(Float, nullable=True)
    output: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Float, index=True)
    updated_at: Mapped[float] = mapped_column(Float)
    owner: Mapped[str | None] = mapped_column(String(32), nullable=True)


class ApiKeyRow(Base):
    """A gateway API key: only a hash of the secret is kept; the limits that apply to it."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    budget_usd: Mapped[float | None] = mapped_column(Float, nullable=True)
    rpm: Mapped[float | None] = mapped_column(Float, nullable=True)
    concurrency: Mapped[int | None] = mapped_column(Integer, nullable=True)
    models: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    webhook_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Where this tenant's `video.completed`/`video.failed` events go (SSRF-checked)."""
    webhook_secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    """The tenant's webhook signing secret, encrypted with `SORAKIT_SECRET_KEY`."""


class CharacterRow(Base):
    """A character made through sorakit: the provider that holds it and the key that owns it."""

    __tablename__ = "characters"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    """The provider's id, which is also the public one."""
    name: Mapped[str] = mapped_column(String(128))
    provider: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    """The gateway API key that made it (None when made without keys): only it may use it."""
    client_key: Mapped[str | None] = mapped_column(String(256), unique=True, nullable=True)
    """The caller's Idempotency-Key, scoped to its API key."""
    created_at: Mapped[int] = mapped_column(Integer)


class CredentialRow(Base):
    """An upstream credential of a provider's pool, and the state the pool keeps for it.

    `secret` and `proxy` are encrypted (`sorakit.security.secretbox`); a credential that comes
    from the environment (`FAL_KEY`, ...) keeps only its state here, never its secret.
    """

    __tablename__ = "upstream_credentials"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(64), index=True)
    label: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(16))
    secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    proxy: Mapped[str | None] = mapped_column(Text, nullable=True)
    base_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    max_concurrency: Mapped[int | None] = mapped_column(Integer, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    auth_failures: Mapped[int] = mapped_column(Integer, default=0)
    cooldown_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    jobs_submitted: Mapped[int] = mapped_column(Integer, default=0)
    last_used_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    removed_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class PoolRow(Base):
    """How a provider's credentials are picked, and the proxy its calls go through."""

    __tablename__ = "upstream_pools"

    provider: Mapped[str] = mapped_column(String(64), primary_key=True)
    strategy: Mapped[str] = mapped_column(String(16))
    proxy: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Encrypted, since a proxy URL may carry a password."""
    updated_at: Mapped[float] = mapped_column(Float)


class CatalogOverrideRow(Base):
    """An alias or a price set through the admin API; it wins over the settings' value."""

    __tablename__ = "catalog_overrides"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[float] = mapped_column(Float)


class RequestRow(Base):
    """One request to the gateway: who, which route and model, the answer, how long, what cost."""

    __tablename__ = "request_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float, index=True)
    key_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    method: Mapped[str] = mapped_column(String(8))
    route: Mapped[str] = mapped_column(String(128))
    model: Mapped[str | None] = mapped_column(String(128), nullable=True)
    video_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    cost: Mapped[float | None] = mapped_column(Float, nullable=True)


class EventRow(Base):
    """A status change of a job, with its time."""

    __tablename__ = "job_events"
    __table_args__ = (Index("ix_job_events_job_id_at", "job_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    at: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    progress: Mapped[int | None] = mapped_column(Integer, nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)


class AssetRow(Base):
    """A file a job produced (or was given), archived under `SORAKIT_HOME/assets`."""

    __tablename__ = "assets"
    __table_args__ = (UniqueConstraint("job_id", "variant"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    variant: Mapped[str] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)


class BudgetScopeRow(Base):
    """A project's budget: the jobs made under it and, when set, the most they may cost.

    Its name, owner and cap never change. "Start anew" closes it and opens a new scope with the
    same name (`replaced_by` points at it), so old spend stays in the ledger as history.
    """

    __tablename__ = "budget_scopes"
    # m009 also makes (coalesce(owner, ''), name) unique among open scopes: one open project
    # per name and owner (an expression index, so it is kept in the migration alone).

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    """The API key whose project it is (None: the keyless ledger's)."""
    name: Mapped[str] = mapped_column(String(128))
    cap_usd: Mapped[float | None] = mapped_column(Float, nullable=True)
    """The most its jobs may cost together; None only tracks the spend."""
    created_at: Mapped[float] = mapped_column(Float)
    closed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    replaced_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The scope "start anew" opened in its place."""
