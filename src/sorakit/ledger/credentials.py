"""Upstream credential pools in the ledger: the credentials, their sealed secrets and their state.

State (cool-downs, authentication failures, disabled) lives here rather than in memory, so every
`sorakit serve` on one database sees the same pool, and a restart forgets nothing. Secrets and
proxies arrive already sealed (`sorakit.security.secretbox`); this module never sees them plain.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sorakit.errors import InvalidRequestError, InvalidStateError, NotFoundError
from sorakit.ledger.records import JobStatus
from sorakit.ledger.tables import CredentialRow, JobRow, PoolRow

CredentialState = Literal["active", "cooling", "disabled"]
_UNFINISHED = [s.value for s in JobStatus if not s.finished]


def env_credential_id(provider: str) -> str:
    """The id of the credential a provider reads from the environment (`FAL_KEY`, ...)."""
    return f"{provider}.env"


@dataclass(frozen=True)
class CredentialRecord:
    """An upstream credential as stored; `secret` and `proxy` are sealed tokens."""

    id: str
    provider: str
    label: str
    source: str
    secret: str | None
    proxy: str | None
    base_url: str | None
    max_concurrency: int | None
    enabled: bool
    disabled_reason: str | None
    auth_failures: int
    cooldown_until: float | None
    last_error: str | None
    jobs_submitted: int
    last_used_at: float | None
    created_at: float

    @classmethod
    def from_row(cls, row: CredentialRow) -> CredentialRecord:
        return cls(
            id=row.id,
            provider=row.provider,
            label=row.label,
            source=row.source,
            secret=row.secret,
            proxy=row.proxy,
            base_url=row.base_url,
            max_concurrency=row.max_concurrency,
            enabled=row.enabled,
            disabled_reason=row.disabled_reason,
            auth_failures=row.auth_failures,
            cooldown_until=row.cooldown_until,
            last_error=row.last_error,
            jobs_submitted=row.jobs_submitted,
            last_used_at=row.last_used_at,
            created_at=row.created_at,
        )

    def state(self, now: float | None = None) -> CredentialState:
        if not self.enabled:
            return "disabled"
        if self.cooldown_until is not None and self.cooldown_until > (now or time.time()):
            return "cooling"
        return "active"

    def public(self, in_flight: int = 0) -> dict[str, Any]:
        """The credential for people and APIs: its state, never its secret nor its proxy."""
        return {
            "id": self.id,
            "provider": self.provider,
            "label": self.label,
            "source": self.source,
            "state": self.state(),
            "disabled_reason": self.disabled_reason,
            "cooldown_until": self.cooldown_until if self.state() == "cooling" else None,
            "auth_failures": self.auth_failures,
            "last_error": self.last_error,
            "max_concurrency": self.max_concurrency,
            "in_flight": in_flight,
            "jobs_submitted": self.jobs_submitted,
            "last_used_at": self.last_used_at,
            "has_proxy": self.proxy is not None,
            "base_url": self.base_url,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class PoolRecord:
    """A provider's pool settings, as set through the admin API."""

    provider: str
    strategy: str
    proxy: str | None


class CredentialStore:
    """The upstream-credential half of the ledger (mixed into `Ledger`)."""

    _session: async_sessionmaker[AsyncSession]

    async def credentials(
        self, provider: str | None = None, *, include_removed: bool = False
    ) -> list[CredentialRecord]:
        query = select(CredentialRow).order_by(CredentialRow.created_at, CredentialRow.id)
        if provider is not None:
            query = query.where(CredentialRow.provider == provider)
        if not include_removed:
            query = query.where(CredentialRow.removed_at.is_(None))
        async with self._session() as session:
            rows = (await session.execute(query)).scalars()
            return [CredentialRecord.from_row(row) for row in rows]

    async def credential(self, credential_id: str) -> CredentialRecord:
        async with self._session() as session:
            row = await session.get(CredentialRow, credential_id)
        if row is None:
            raise NotFoundError(f"No credential with id '{credential_id}'.", param="credential_id")
        return CredentialRecord.from_row(row)

    async def ensure_env_credential(self, provider: str, label: str) -> CredentialRecord:
        """The state row of the credential a provider reads from the environment."""
        credential_id = env_credential_id(provider)
        async with self._session() as session:
            row = await session.get(CredentialRow, credential_id)
            if row is None:
                now = time.time()
                row = CredentialRow(
                    id=credential_id,
                    provider=provider,
                    label=label,
                    source="env",
                    enabled=True,
                    auth_failures=0,
                    jobs_submitted=0,
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
                await session.commit()
            return CredentialRecord.from_row(row)

    async def add_credential(
        self,
        provider: str,
        *,
        label: str,
        secret: str,
        proxy: str | None = None,
        base_url: str | None = None,
        max_concurrency: int | None = None,
    ) -> CredentialRecord:
        """Store a credential whose `secret` (and `proxy`) are already sealed."""
        if not label.strip() or len(label) > 128:
            raise InvalidRequestError(
                "a credential's label must be 1 to 128 characters", param="label"
            )
        if max_concurrency is not None and max_concurrency <= 0:
            raise InvalidRequestError("max_concurrency must be positive", param="max_concurrency")
        now = time.time()
        row = CredentialRow(
            id=f"cred_{secrets.token_hex(6)}",
            provider=provider,
            label=label,
            source="stored",
            secret=secret,
            proxy=proxy,
            base_url=base_url,
            max_concurrency=max_concurrency,
            enabled=True,
            auth_failures=0,
            jobs_submitted=0,
            created_at=now,
            updated_at=now,
        )
        async with self._session() as session:
            session.add(row)
            await session.commit()
        return CredentialRecord.from_row(row)

    async def update_credential(self, credential_id: str, **fields: Any) -> CredentialRecord:
        """Change a credential's fields (label, limits, enabled, sealed secret...)."""
        async with self._session() as session:
            row = await session.get(CredentialRow, credential_id)
            if row is None or row.removed_at is not None:
                raise NotFoundError(
                    f"No credential with id '{credential_id}'.", param="credential_id"
                )
            if fields.get("enabled") is True:  # enabling clears what disabled it
                fields.setdefault("disabled_reason", None)
                fields.setdefault("auth_failures", 0)
                fields.setdefault("cooldown_until", None)
            for name, value in fields.items():
                setattr(row, name, value)
            row.updated_at = time.time()
            await session.commit()
            return CredentialRecord.from_row(row)

    async def remove_credential(self, credential_id: str) -> CredentialRecord:
        """Forget a credential's secret; refused while jobs it created are unfinished."""
        if (await self.credential_load([credential_id])).get(credential_id):
            raise InvalidStateError(
                "the credential still has unfinished jobs; disable it, and remove it once "
                "they are done"
            )
        async with self._session() as session:
            row = await session.get(CredentialRow, credential_id)
            if row is None or row.removed_at is not None:
                raise NotFoundError(
                    f"No credential with id '{credential_id}'.", param="credential_id"
                )
            if row.source == "env":
                raise InvalidRequestError(
                    "a credential from the environment is removed by unsetting its variable; "
                    "it can be disabled here",
                    param="credential_id",
                )
            row.removed_at = row.updated_at = time.time()
            row.secret = row.proxy = None
            row.enabled = False
            await session.commit()
            return CredentialRecord.from_row(row)

    async def credential_load(self, credential_ids: list[str]) -> dict[str, int]:
        """Unfinished jobs per credential (what its concurrency limit counts)."""
        if not credential_ids:
            return {}
        query = (
            select(JobRow.credential_id, func.count())
            .where(JobRow.credential_id.in_(credential_ids), JobRow.status.in_(_UNFINISHED))
            .group_by(JobRow.credential_id)
        )
        async with self._session() as session:
            rows = (await session.execute(query)).all()
        return {str(credential_id): int(count) for credential_id, count in rows}

    async def note_rate_limited(self, credential_id: str, until: float, message: str) -> None:
        """Cool a credential down until `until` (never shortening a longer cool-down)."""
        async with self._session() as session:
            row = await session.get(CredentialRow, credential_id)
            if row is None:
                return
            row.cooldown_until = max(until, row.cooldown_until or 0.0)
            row.last_error = message
            row.updated_at = time.time()
            await session.commit()

    async def note_auth_failure(
        self, credential_id: str, message: str, *, disable_after: int | None
    ) -> CredentialRecord | None:
        """Count an authentication failure; the `disable_after`-th in a row disables it (None:
        note the error only, for a key that lives one run)."""
        async with self._session() as session:
            row = await session.get(CredentialRow, credential_id)
            if row is None:
                return None
            if disable_after is not None:
                row.auth_failures += 1
            row.last_error = message
            row.updated_at = time.time()
            if disable_after is not None and row.auth_failures >= disable_after and row.enabled:
                row.enabled = False
                row.disabled_reason = (
                    f"{row.auth_failures} authentication failures in a row; last: {message}"
                )
            await session.commit()
            return CredentialRecord.from_row(row)

    async def note_used(self, credential_id: str, *, submitted: bool) -> None:
        """A call on the credential succeeded: its failure count starts again."""
        async with self._session() as session:
            row = await session.get(CredentialRow, credential_id)
            if row is None:
                return
            row.auth_failures = 0
            row.last_used_at = time.time()
            if submitted:
                row.jobs_submitted += 1
            await session.commit()

    async def pool(self, provider: str) -> PoolRecord | None:
        async with self._session() as session:
            row = await session.get(PoolRow, provider)
        return None if row is None else PoolRecord(row.provider, row.strategy, row.proxy)

    async def set_pool(self, provider: str, *, strategy: str, proxy: str | None) -> PoolRecord:
        """Set a provider's strategy and (sealed) proxy."""
        async with self._session() as session:
            row = await session.get(PoolRow, provider)
            if row is None:
                row = PoolRow(provider=provider)
                session.add(row)
            row.strategy = strategy
            row.proxy = proxy
            row.updated_at = time.time()
            await session.commit()
            return PoolRecord(row.provider, row.strategy, row.proxy)
