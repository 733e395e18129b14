"""Characters in the ledger: who made each one, so nobody else can look it up or cast it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sorakit.ledger.tables import CharacterRow


@dataclass(frozen=True)
class CharacterRecord:
    """A character as stored."""

    id: str
    name: str
    provider: str
    owner: str | None
    client_key: str | None
    created_at: int

    @classmethod
    def from_row(cls, row: CharacterRow) -> CharacterRecord:
        return cls(
            id=row.id,
            name=row.name,
            provider=row.provider,
            owner=row.owner,
            client_key=row.client_key,
            created_at=row.created_at,
        )


class CharacterStore:
    """The character half of the ledger (mixed into `Ledger`)."""

    _session: async_sessionmaker[AsyncSession]

    async def add_character(self, record: CharacterRecord) -> CharacterRecord:
        """Record a character; one made under a key already used returns that key's character."""
        row = CharacterRow(
            id=record.id,
            name=record.name,
            provider=record.provider,
            owner=record.owner,
            client_key=record.client_key,
            created_at=record.created_at,
        )
        try:
            async with self._session() as session:
                session.add(row)
                await session.commit()
        except IntegrityError:
            # Two creates with one Idempotency-Key raced: the first one recorded is the answer.
            winner = await self.character_by_client_key(record.client_key or "")
            if winner is None:
                raise
            return winner
        return record

    async def get_character(self, character_id: str) -> CharacterRecord | None:
        async with self._session() as session:
            row = await session.get(CharacterRow, character_id)
        return None if row is None else CharacterRecord.from_row(row)

    async def character_by_client_key(self, client_key: str) -> CharacterRecord | None:
        """The character made under a (scoped) Idempotency-Key, if any."""
        async with self._session() as session:
            row = (
                await session.execute(
                    select(CharacterRow).where(CharacterRow.client_key == client_key)
                )
            ).scalar_one_or_none()
        return None if row is None else CharacterRecord.from_row(row)
