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

from sqlalchemy import ColumnElement, case, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sorakit.errors import BudgetExceededError, NotFoundError
from sorakit.ledger.records import JobStatus, PipelineRecord, PipelineStatus, Spend, amount_text
from sorakit.ledger.tables import BudgetScopeRow, JobRow, PipelineRow

_UNFINISHED = [s.value for s in JobStatus if not s.finished]
_BUDGET_LOCK = 0x50A1C17
"""The Postgres advisory lock that serialises budgeted inserts."""


@dataclass(frozen=True)
class Budget:
    """A cap in USD over the whole ledger, one pipeline's jobs, one API key's, or one project's
    (a budget scope: `sorakit budgets`, the studio's budget page)."""

    cap: float
    pipeline_id: str | None = None
    owner: str | None = None
    scope_id: str | None = None

    @property
    def label(self) -> str:
        if self.scope_id:
            return "this project's budget"  # `check_budgets` names the project when it refuses
        if self.owner:
            return "this API key's budget"
        return f"pipeline {self.pipeline_id}'s budget" if self.pipeline_id else "the budget"


def _row_money() -> tuple[Any, Any, Any]:
    """Per job: USD committed, USD reserved, and 1 when it counts at $0 for want of a price."""
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
        case((JobRow.status.in_(_UNFINISHED), 0.0), else_=committed),
        reserved,
        case((unpriced, 1), else_=0),
    )


def _spend_columns(where: ColumnElement[bool] | None = None) -> tuple[Any, Any, Any]:
    """Committed USD, reserved USD, and how many jobs count in them at $0 for want of a price;
    with `where`, over the jobs it matches only (so one query can sum several groups)."""
    columns = _row_money()
    if where is not None:
        columns = (
            case((where, columns[0]), else_=0.0),
            case((where, columns[1]), else_=0.0),
            case((where, columns[2]), else_=0),
        )
    committed, reserved, unpriced = columns
    return (
        func.coalesce(func.sum(committed), 0.0),
        func.coalesce(func.sum(reserved), 0.0),
        func.coalesce(func.sum(unpriced), 0),
    )


def _spend(committed: Any, reserved: Any, unpriced: Any) -> Spend:
    return Spend(round(float(committed), 6), round(float(reserved), 6), int(unpriced))


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
    session: AsyncSession,
    pipeline_id: str | None = None,
    owner: str | None = None,
    scope_id: str | None = None,
) -> Spend:
    """What the ledger's jobs (or one pipeline's, one key's, one project's) committed and hold
    in reserve."""
    query = select(*_spend_columns())
    if pipeline_id is not None:
        query = query.where(JobRow.pipeline_id == pipeline_id)
    if owner is not None:
        query = query.where(JobRow.owner == owner)
    if scope_id is not None:
        query = query.where(JobRow.scope_id == scope_id)
    return _spend(*(await session.execute(query)).one())


async def spend_by_scope_in(session: AsyncSession, scope_ids: Sequence[str]) -> dict[str, Spend]:
    """Each project's spend, in one query grouped over the jobs' `scope_id` index."""
    if not scope_ids:
        return {}
    query = (
        select(JobRow.scope_id, *_spend_columns())
        .where(JobRow.scope_id.in_(scope_ids))
        .group_by(JobRow.scope_id)
    )
    rows = (await session.execute(query)).all()
    return {str(scope_id): _spend(*money) for scope_id, *money in rows}


@dataclass(frozen=True)
class SpendViews:
    """One caller's money seen three ways at once (what the studio's budget meter shows)."""

    scope: Spend | None
    owner: Spend | None
    ledger: Spend | None


async def spend_views_in(
    session: AsyncSession, *, scope_id: str | None, owner: str | None, whole: bool
) -> SpendViews:
    """The spend of a project, of a key and (with `whole`) of the ledger, in ONE query.

    Without `whole` the query reads only the project's and the key's jobs, through their
    indexes: the meter asks this every few seconds for every open page.
    """
    parts = [
        (JobRow.scope_id == scope_id) if scope_id is not None else None,
        (JobRow.owner == owner) if owner is not None else None,
    ]
    wanted = [part for part in parts if part is not None]
    if not wanted and not whole:
        return SpendViews(None, None, None)
    columns = [column for part in wanted for column in _spend_columns(part)]
    if whole:
        columns += _spend_columns()
    query = select(*columns)
    if not whole:
        query = query.where(or_(*wanted))
    values = list((await session.execute(query)).one())
    spends = [_spend(*values[index : index + 3]) for index in range(0, len(values), 3)]
    found = iter(spends)
    return SpendViews(
        next(found) if parts[0] is not None else None,
        next(found) if parts[1] is not None else None,
        next(found) if whole else None,
    )


async def check_budgets(
    session: AsyncSession, budgets: Sequence[Budget], estimate: float | None, what: str
) -> None:
    """Raise `BudgetExceededError` when the job just flushed in `session` passes a cap."""
    if not budgets:
        return
    if estimate is None:
        label = await _named_label(session, budgets[0])
        raise BudgetExceededError(
            f"The price of {what} is unknown, so {label} of ${budgets[0].cap:.2f} "
            "cannot be kept; nothing was sent. Give the model a price with `sorakit prices set "
            "MODEL --per-second USD` or `PUT /admin/prices/MODEL`, or lift the budget.",
            param="model",
        )
    for budget in budgets:
        # with the new job
        spend = await spend_in(session, budget.pipeline_id, budget.owner, budget.scope_id)
        if spend.total > budget.cap + 1e-9:
            before = amount_text(spend.total - estimate, spend.unpriced_jobs)
            label = await _named_label(session, budget)
            raise BudgetExceededError(
                f"{what} is estimated at ${estimate:.2f}; with {before} already spent or "
                f"reserved that passes {label} of ${budget.cap:.2f}, so it was not sent."
            )


async def _named_label(session: AsyncSession, budget: Budget) -> str:
    """The budget's label, naming its project (looked up only for a refusal)."""
    if budget.scope_id is None:
        return budget.label
    name = await session.scalar(
        select(BudgetScopeRow.name).where(BudgetScopeRow.id == budget.scope_id)
    )
    return budget.label if name is None else f'project "{name}"\'s budget'


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
        owner: str | None = None,
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
            owner=owner,
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

    async def spend(
        self,
        pipeline_id: str | None = None,
        owner: str | None = None,
        scope_id: str | None = None,
    ) -> Spend:
        """Committed and reserved USD over the ledger, one pipeline, one key, or one project."""
        async with self._session() as session:
            return await spend_in(session, pipeline_id, owner, scope_id)

    async def spend_views(
        self, *, scope_id: str | None = None, owner: str | None = None, whole: bool = False
    ) -> SpendViews:
        """A project's, a key's and (with `whole`) the ledger's spend, in one query."""
        async with self._session() as session:
            return await spend_views_in(session, scope_id=scope_id, owner=owner, whole=whole)
