"""Pipelines and money in the ledger: pipeline rows, their child jobs, and budget checks.

A budget is kept by the database, not by a process: a job's estimate is a row (reserved while
the job runs, committed when it completes, released when the provider does not bill it), and the
check runs in the same transaction as the insert, after the insert has taken the write lock
(SQLite) or an advisory lock (Postgres). Two processes cannot both squeeze under one cap.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sorakit.errors import BudgetExceededError, NotFoundError
from sorakit.ledger.records import JobStatus, PipelineRecord, PipelineStatus, Spend, amount_text
from sorakit.ledger.tables import JobRow, PipelineRow

_UNFINISHED = [s.value for s in JobStatus if not s.finished]
_BUDGET_LOCK = 0x50A1C17
"""The Postgres advisory lock that serialises budgeted inserts."""


@dataclass(frozen=True)
class Budget:
    """A cap in USD over the whole ledger, one pipeline's jobs, or one API key's jobs."""

    cap: float
    pipeline_id: str | None = None
    owner: str | None = None

    @property
    def label(self) -> str:
        if self.owner:
            return "this API key's budget"
        return f"pipeline {self.pipeline_id}'s budget" if self.pipeline_id else "the budget"


def _spend_columns() -> tuple[Any, Any, Any]:
    """Committed USD, reserved USD, and how many jobs count in them at $0 for want of a price."""
    known_or_estimate = func.coalesce(JobRow.cost, JobRow.estimated_cost, 0.0)
    committed = case(
        (JobRow.status == JobStatus.COMPLETED.value, known_or_estimate),
        # The provider had the job: without a reported cost, assume it bills the estimate.
        (
            (JobRow.status == JobStatus.CANCELLED.value) & JobRow.remote_id.is_not(None),
            known_or_estimate,
        ),
        # Failures are not billed unless the provider says otherwise.
        else_=func.coalesce(JobRow.cost, 0.0),
    )
    reserved = case((JobRow.status.in_(_UNFINISHED), known_or_estimate), else_=0.0)
    billable = (
        (JobRow.status == JobStatus.COMPLETED.value)
        | JobRow.status.in_(_UNFINISHED)
        | ((JobRow.status == JobStatus.CANCELLED.value) & JobRow.remote_id.is_not(None))
    )  # the jobs `JobRecord.cost_unknown` names
    unpriced = billable & JobRow.cost.is_(None) & JobRow.estimated_cost.is_(None)
    return (
        func.coalesce(func.sum(case((JobRow.status.in_(_UNFINISHED), 0.0), else_=committed)), 0.0),
        func.coalesce(func.sum(reserved), 0.0),
        func.coalesce(func.sum(case((unpriced, 1), else_=0)), 0),
    )


@dataclass(frozen=True)
class UsageRow:
    """Jobs and money of one key, one model, one UTC day."""

    owner: str | None
    model: str
    day: str
    jobs: int
    committed: float
    reserved: float
    unpriced_jobs: int
    """Jobs counted at $0 in `committed` or `reserved` because their price is unknown."""


async def usage_in(session: AsyncSession, since: float | None = None) -> list[UsageRow]:
    """Usage per key, model and UTC day, oldest first."""
    committed, reserved, unpriced = _spend_columns()
    day = func.floor(JobRow.created_at / 86400)
    query = (
        select(JobRow.owner, JobRow.model, day, func.count(), committed, reserved, unpriced)
        .group_by(JobRow.owner, JobRow.model, day)
        .order_by(day, JobRow.owner, JobRow.model)
    )
    if since is not None:
        query = query.where(JobRow.created_at >= since)
    rows = []
    for owner, model, day_number, jobs, spent, held, unknown in (
        await session.execute(query)
    ).all():
        date = time.strftime("%Y-%m-%d", time.gmtime(float(day_number) * 86400))
        money = round(float(spent), 6), round(float(held), 6)
        rows.append(UsageRow(owner, model, date, int(jobs), *money, int(unknown)))
    return rows


async def spend_in(
    session: AsyncSession, pipeline_id: str | None = None, owner: str | None = None
) -> Spend:
    """What the ledger's jobs (or one pipeline's, or one key's) committed and hold in reserve."""
    query = select(*_spend_columns())
    if pipeline_id is not None:
        query = query.where(JobRow.pipeline_id == pipeline_id)
    if owner is not None:
        query = query.where(JobRow.owner == owner)
    committed, reserved, unpriced = (await session.execute(query)).one()
    return Spend(round(float(committed), 6), round(float(reserved), 6), int(unpriced))


async def check_budgets(
    session: AsyncSession, budgets: Sequence[Budget], estimate: float | None, what: str
) -> None:
    """Raise `BudgetExceededError` when the job just flushed in `session` passes a cap."""
    if not budgets:
        return
    if estimate is None:
        raise BudgetExceededError(
            f"The price of {what} is unknown, so {budgets[0].label} of ${budgets[0].cap:.2f} "
            "cannot be kept; nothing was sent. Give the model a price with `sorakit prices set "
            "MODEL --per-second USD` or `PUT /admin/prices/MODEL`, or lift the budget.",
            param="model",
        )
    for budget in budgets:
        spend = await spend_in(session, budget.pipeline_id, budget.owner)  # with the new job
        if spend.total > budget.cap + 1e-9:
            before = amount_text(spend.total - estimate, spend.unpriced_jobs)
            raise BudgetExceededError(
                f"{what} is estimated at ${estimate:.2f}; with {before} already spent or "
                f"reserved that passes {budget.label} of ${budget.cap:.2f}, so it was not sent."
            )


async def lock_budgets(session: AsyncSession) -> None:
    """Serialise budgeted inserts across processes where the database needs it."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _BUDGET_LOCK})


class PipelineStore:
    """The pipeline half of the ledger (mixed into `Ledger`)."""

    _session: async_sessionmaker[AsyncSession]

    async def create_pipeline(
        self,
        *,
        id: str,
        kind: str,
        title: str,
        spec: dict[str, Any],
        budget_usd: float | None = None,
    ) -> PipelineRecord:
        now = time.time()
        row = PipelineRow(
            id=id,
            kind=kind,
            status=PipelineStatus.RUNNING.value,
            title=title,
            spec=spec,
            state={},
            budget_usd=budget_usd,
            created_at=now,
            updated_at=now,
        )
        async with self._session() as session:
            session.add(row)
            await session.commit()
        return PipelineRecord.from_row(row)

    async def get_pipeline(self, pipeline_id: str) -> PipelineRecord:
        async with self._session() as session:
            row = await session.get(PipelineRow, pipeline_id)
        if row is None:
            raise NotFoundError(f"No pipeline found with id '{pipeline_id}'.", param="pipeline_id")
        return PipelineRecord.from_row(row)

    async def update_pipeline(self, pipeline_id: str, **fields: Any) -> PipelineRecord:
        """Change fields; `state` is merged key by key into what is there."""
        async with self._session() as session:
            row = await session.get(PipelineRow, pipeline_id, with_for_update=True)
            if row is None:
                raise NotFoundError(f"No pipeline found with id '{pipeline_id}'.")
            if "state" in fields:
                fields["state"] = {**(row.state or {}), **fields["state"]}
            if isinstance(fields.get("status"), PipelineStatus):
                fields["status"] = fields["status"].value
            for name, value in fields.items():
                setattr(row, name, value)
            row.updated_at = time.time()
            await session.commit()
            return PipelineRecord.from_row(row)

    async def list_pipelines(
        self, *, unfinished: bool = False, limit: int = 100
    ) -> list[PipelineRecord]:
        query = select(PipelineRow).order_by(PipelineRow.created_at.desc()).limit(limit)
        if unfinished:  # a failed pipeline is unfinished too: resuming retries the failed step
            query = query.where(
                PipelineRow.status.in_([PipelineStatus.RUNNING.value, PipelineStatus.FAILED.value])
            )
        async with self._session() as session:
            return [PipelineRecord.from_row(r) for r in (await session.execute(query)).scalars()]

    async def usage(self, since: float | None = None) -> list[UsageRow]:
        """Jobs, committed and reserved USD per key, model and UTC day."""
        async with self._session() as session:
            return await usage_in(session, since)

    async def spend(self, pipeline_id: str | None = None, owner: str | None = None) -> Spend:
        """Committed and reserved USD over the ledger, one pipeline, or one key."""
        async with self._session() as session:
            return await spend_in(session, pipeline_id, owner)
