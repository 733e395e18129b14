"""Catalog overrides in the ledger: the aliases and prices an operator set at run time.

One row per (kind, name), its value JSON (an alias's target, a model's prices). The rows live in
the database rather than in a process, so every `sorakit serve` on it reads the same overrides
(`sorakit.catalog.overrides.OverrideSync`) and a restart forgets none. What a value may hold is
the catalog's business (`sorakit.catalog.overrides`); this module only stores it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal, get_args

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sorakit.errors import InvalidRequestError, NotFoundError
from sorakit.ledger.tables import CatalogOverrideRow

OverrideKind = Literal["alias", "price"]
_KINDS: tuple[str, ...] = get_args(OverrideKind)


@dataclass(frozen=True)
class OverrideRecord:
    """An alias or a price as stored."""

    kind: str
    name: str
    """The alias, or the model a price is for."""
    value: Any
    updated_at: float

    @classmethod
    def from_row(cls, row: CatalogOverrideRow) -> OverrideRecord:
        return cls(kind=row.kind, name=row.name, value=row.value, updated_at=row.updated_at)


def _check(kind: str, name: str) -> None:
    if kind not in _KINDS:
        raise InvalidRequestError(f"unknown override kind {kind!r}", param="kind", allowed=_KINDS)
    if not name.strip() or len(name) > 128:
        raise InvalidRequestError("a name must be 1 to 128 characters", param="name")


class OverrideStore:
    """The catalog-override half of the ledger (mixed into `Ledger`)."""

    _session: async_sessionmaker[AsyncSession]

    async def list_overrides(self, kind: OverrideKind | None = None) -> list[OverrideRecord]:
        """Every override (of one kind), by kind and name."""
        query = select(CatalogOverrideRow).order_by(
            CatalogOverrideRow.kind, CatalogOverrideRow.name
        )
        if kind is not None:
            query = query.where(CatalogOverrideRow.kind == kind)
        async with self._session() as session:
            return [OverrideRecord.from_row(r) for r in (await session.execute(query)).scalars()]

    async def get_override(self, kind: OverrideKind, name: str) -> OverrideRecord | None:
        async with self._session() as session:
            row = await session.get(CatalogOverrideRow, (kind, name))
        return None if row is None else OverrideRecord.from_row(row)

    async def set_override(self, kind: OverrideKind, name: str, value: Any) -> OverrideRecord:
        """Create or replace an override."""
        _check(kind, name)
        try:
            return await self._write_override(kind, name, value)
        except IntegrityError:
            # Another process inserted the same name between our read and our write: the second
            # pass finds its row and replaces the value.
            return await self._write_override(kind, name, value)

    async def _write_override(self, kind: str, name: str, value: Any) -> OverrideRecord:
        async with self._session() as session:
            row = await session.get(CatalogOverrideRow, (kind, name))
            if row is None:
                row = CatalogOverrideRow(kind=kind, name=name)
                session.add(row)
            row.value, row.updated_at = value, time.time()
            await session.commit()
            return OverrideRecord.from_row(row)

    async def delete_override(self, kind: OverrideKind, name: str) -> OverrideRecord:
        """Remove an override; NotFoundError when there is none."""
        async with self._session() as session:
            row = await session.get(CatalogOverrideRow, (kind, name))
            if row is None:
                raise NotFoundError(f"No {kind} override for '{name}'.", param="name")
            record = OverrideRecord.from_row(row)
            await session.delete(row)
            await session.commit()
        return record
