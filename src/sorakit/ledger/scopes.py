"""Budget scopes in the ledger: projects with a name, an owner and (maybe) a cap.

A job made under a scope records its id (`jobs.scope_id`); the scope's spend is the ledger's
usual sum over those jobs, and its cap is one more `Budget` checked in the insert's transaction.
A scope never changes: "start anew" (the studio's "reset spend") closes it and opens another
with the same name, so the old spend stays in the ledger as that project's history. Names are
per owner (an API key, or None for the keyless ledger), and an owner reaches only its own scopes.
"""

from __future__ import annotations

import enum
import secrets
import time
import unicodedata
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sorakit.errors import InvalidRequestError, InvalidStateError, NotFoundError
from sorakit.ids import is_safe_id
from sorakit.ledger.keys import MAX_LIMIT
from sorakit.ledger.pipelines import spend_by_scope_in
from sorakit.ledger.records import Spend
from sorakit.ledger.tables import BudgetScopeRow

NAME_LENGTH = 128


class _Keep(enum.Enum):
    KEEP = "keep"


KEEP = _Keep.KEEP
"""`restart_scope(cap_usd=KEEP)`: the new scope keeps the old one's cap."""


@dataclass(frozen=True)
class ScopeRecord:
    """A budget scope as stored."""

    id: str
    owner: str | None
    name: str
    cap_usd: float | None
    created_at: float
    closed_at: float | None = None
    replaced_by: str | None = None

    @property
    def open(self) -> bool:
        return self.closed_at is None

    @classmethod
    def from_row(cls, row: BudgetScopeRow) -> ScopeRecord:
        return cls(
            row.id, row.owner, row.name, row.cap_usd, row.created_at, row.closed_at, row.replaced_by
        )


@dataclass(frozen=True)
class ScopeSpend:
    """A scope and what its jobs committed and hold in reserve."""

    scope: ScopeRecord
    spend: Spend

    @property
    def left(self) -> float | None:
        """USD still under the cap (None without one)."""
        cap = self.scope.cap_usd
        return None if cap is None else cap - self.spend.total


def scope_name(name: str) -> str:
    """A project's name, trimmed; refused when empty, too long or holding control characters."""
    name = " ".join(name.split())
    if not name or len(name) > NAME_LENGTH:
        raise InvalidRequestError(
            f"A project's name must be 1 to {NAME_LENGTH} characters.", param="name"
        )
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise InvalidRequestError("A project's name may not hold control characters.", param="name")
    return name


def scope_cap(cap_usd: float | None) -> float | None:
    """A project's cap in USD (None: no cap); refused unless positive and finite."""
    if cap_usd is not None and not 0 < cap_usd <= MAX_LIMIT:  # NaN fails this too
        raise InvalidRequestError(
            f"A project's cap must be a positive amount in USD, at most {MAX_LIMIT:,}.",
            param="cap_usd",
        )
    return cap_usd


def cap_from_text(text: str) -> float | None:
    """A cap as a person types it (`5`, `$12.50`; empty or `none`: no cap), checked."""
    text = text.strip().removeprefix("$").strip()
    if text.lower() in ("", "none"):
        return None
    try:
        return scope_cap(float(text))
    except ValueError:
        raise InvalidRequestError(
            f"A project's cap must be an amount in USD, like 5 or 12.50, not {text[:40]!r}.",
            param="cap_usd",
        ) from None


def _same_owner(owner: str | None) -> ColumnElement[bool]:
    return BudgetScopeRow.owner.is_(None) if owner is None else BudgetScopeRow.owner == owner


class ScopeStore:
    """The budget-scope half of the ledger (mixed into `Ledger`)."""

    _session: async_sessionmaker[AsyncSession]

    async def create_scope(
        self, name: str, *, owner: str | None = None, cap_usd: float | None = None
    ) -> ScopeRecord:
        """Open a project; its name must not be taken by another open project of `owner`."""
        row = BudgetScopeRow(
            id=f"scope_{secrets.token_hex(12)}",
            owner=owner,
            name=scope_name(name),
            cap_usd=scope_cap(cap_usd),
            created_at=time.time(),
        )
        async with self._session() as session:
            if await _open_named(session, row.name, owner) is not None:
                raise _taken(row.name)
            session.add(row)
            try:
                await session.commit()
            except IntegrityError:  # the same name, opened at the same moment elsewhere
                raise _taken(row.name) from None
        return ScopeRecord.from_row(row)

    async def get_scope(self, scope_id: str, *, owner: str | None = None) -> ScopeRecord:
        """One of `owner`'s scopes, open or closed, by id; another owner's is not found."""
        async with self._session() as session:
            row = await _owned(session, scope_id, owner)
        return ScopeRecord.from_row(row)

    async def open_scope(self, name: str, *, owner: str | None = None) -> ScopeRecord | None:
        """`owner`'s open project of that name, if there is one."""
        try:
            name = scope_name(name)
        except InvalidRequestError:  # no project can have it (and a NUL would fail on Postgres)
            return None
        async with self._session() as session:
            row = await _open_named(session, name, owner)
        return None if row is None else ScopeRecord.from_row(row)

    async def find_scope(self, ref: str, *, owner: str | None = None) -> ScopeRecord:
        """`owner`'s open project by name, or any of its scopes by id."""
        if (scope := await self.open_scope(ref, owner=owner)) is not None:
            return scope
        if ref.startswith("scope_"):
            return await self.get_scope(ref, owner=owner)
        raise NotFoundError(f'No open project named "{ref[:NAME_LENGTH]}".', param="name")

    async def list_scopes(
        self, *, owner: str | None = None, include_closed: bool = False, limit: int = 200
    ) -> list[ScopeSpend]:
        """`owner`'s projects with their spend: open ones by name, then closed ones, newest first."""
        query = select(BudgetScopeRow).where(_same_owner(owner))
        if not include_closed:
            query = query.where(BudgetScopeRow.closed_at.is_(None))
        query = query.order_by(
            BudgetScopeRow.closed_at.is_not(None),
            BudgetScopeRow.closed_at.desc(),
            BudgetScopeRow.name,
        ).limit(limit)
        async with self._session() as session:
            rows = list((await session.execute(query)).scalars())
            spends = await spend_by_scope_in(session, [row.id for row in rows])
        empty = Spend(0.0, 0.0)
        return [ScopeSpend(ScopeRecord.from_row(r), spends.get(r.id, empty)) for r in rows]

    async def restart_scope(
        self, scope_id: str, *, owner: str | None = None, cap_usd: float | None | _Keep = KEEP
    ) -> ScopeRecord:
        """Start a project anew: close the scope and open one with its name and cap at $0.

        `cap_usd` gives the new scope another cap (None: none). The old scope and its jobs stay
        in the ledger, so what was spent before is still there to read.
        """
        async with self._session() as session:
            old = await _owned(session, scope_id, owner, lock=True)
            if old.closed_at is not None:
                raise InvalidStateError(f'Project "{old.name}" is already closed.')
            cap = old.cap_usd if cap_usd is KEEP else scope_cap(cap_usd)
            new = BudgetScopeRow(
                id=f"scope_{secrets.token_hex(12)}",
                owner=old.owner,
                name=old.name,
                cap_usd=cap,
                created_at=time.time(),
            )
            old.closed_at, old.replaced_by = new.created_at, new.id
            await session.flush()  # closed first: the new one takes its name
            session.add(new)
            try:
                await session.commit()
            except IntegrityError:  # another restart of the same project won
                raise InvalidStateError(
                    f'Project "{old.name}" was just started anew elsewhere; reload.'
                ) from None
        return ScopeRecord.from_row(new)

    async def close_scope(self, scope_id: str, *, owner: str | None = None) -> ScopeRecord:
        """Close a project: no new job may use it; its jobs and spend stay in the ledger."""
        async with self._session() as session:
            row = await _owned(session, scope_id, owner, lock=True)
            if row.closed_at is not None:
                raise InvalidStateError(f'Project "{row.name}" is already closed.')
            row.closed_at = time.time()
            await session.commit()
        return ScopeRecord.from_row(row)


async def _owned(
    session: AsyncSession, scope_id: str, owner: str | None, *, lock: bool = False
) -> BudgetScopeRow:
    row = None
    if is_safe_id(scope_id):  # never a row's id otherwise; a NUL would fail on Postgres
        row = await session.get(BudgetScopeRow, scope_id, with_for_update=lock)
    if row is None or row.owner != owner:
        raise NotFoundError(f"No project found with id '{scope_id[:200]}'.", param="scope_id")
    return row


async def _open_named(session: AsyncSession, name: str, owner: str | None) -> BudgetScopeRow | None:
    query = select(BudgetScopeRow).where(
        _same_owner(owner),
        BudgetScopeRow.name == name,
        BudgetScopeRow.closed_at.is_(None),
    )
    return (await session.execute(query)).scalars().first()


def _taken(name: str) -> InvalidRequestError:
    return InvalidRequestError(
        f'A project named "{name}" is already open; start it anew or pick another name.',
        param="name",
    )
