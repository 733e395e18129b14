"""Gateway API keys in the ledger: made once, shown once, stored as a hash, revoked not deleted.

A key reads `sk-sorakit-<prefix>-<secret>`. The prefix is public and indexed, so a request finds
its row with one lookup; the whole key's SHA-256 is compared in constant time. Keys carry 190
bits of randomness, so a fast hash is safe here (no password stretching is needed).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sorakit.errors import InvalidRequestError, NotFoundError
from sorakit.ledger.records import ApiKeyRecord, JobStatus
from sorakit.ledger.tables import ApiKeyRow, JobRow

KEY_PREFIX = "sk-sorakit-"
MAX_LIMIT = 1_000_000_000
"""The largest budget, rate or concurrency a key may have (the database's integers are finite).

A rate may be fractional (0.5: one video per two minutes); a concurrency is a whole number."""
_UNFINISHED = [s.value for s in JobStatus if not s.finished]


def hash_key(token: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(token.encode()).hexdigest()


def key_prefix(token: str) -> str | None:
    """The public prefix of a well-formed key, else None."""
    if not token.startswith(KEY_PREFIX):
        return None
    prefix, sep, secret = token[len(KEY_PREFIX) :].partition("-")
    return prefix if sep and len(prefix) == 12 and secret else None


class KeyStore:
    """The API-key half of the ledger (mixed into `Ledger`)."""

    _session: async_sessionmaker[AsyncSession]

    async def create_key(
        self,
        name: str,
        *,
        admin: bool = False,
        budget_usd: float | None = None,
        rpm: float | None = None,
        concurrency: int | None = None,
        models: Sequence[str] | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
    ) -> tuple[ApiKeyRecord, str]:
        """A new key and its token; the token exists only in this return value.

        `webhook_url` must already be checked and `webhook_secret` sealed (`sorakit.security`).
        """
        if not name.strip() or len(name) > 128:
            raise InvalidRequestError("a key's name must be 1 to 128 characters", param="name")
        for value, what in ((budget_usd, "budget"), (rpm, "rpm"), (concurrency, "concurrency")):
            if value is not None and not 0 < value <= MAX_LIMIT:
                raise InvalidRequestError(
                    f"the {what} must be positive and at most {MAX_LIMIT:,}", param=what
                )
        if concurrency is not None and concurrency != int(concurrency):
            raise InvalidRequestError(
                "the concurrency must be a whole number of videos", param="concurrency"
            )
        prefix = secrets.token_hex(6)
        token = f"{KEY_PREFIX}{prefix}-{secrets.token_urlsafe(24)}"
        row = ApiKeyRow(
            id=f"key_{secrets.token_hex(8)}",
            name=name,
            prefix=prefix,
            secret_hash=hash_key(token),
            admin=admin,
            budget_usd=budget_usd,
            rpm=rpm,
            concurrency=concurrency,
            models=list(models) if models else None,
            created_at=time.time(),
            webhook_url=webhook_url,
            webhook_secret=webhook_secret if webhook_url else None,
        )
        async with self._session() as session:
            session.add(row)
            await session.commit()
        return ApiKeyRecord.from_row(row), token

    async def key_by_prefix(self, prefix: str) -> ApiKeyRecord | None:
        async with self._session() as session:
            row = (
                await session.execute(select(ApiKeyRow).where(ApiKeyRow.prefix == prefix))
            ).scalar_one_or_none()
        return None if row is None else ApiKeyRecord.from_row(row)

    async def get_key(self, key_id: str) -> ApiKeyRecord | None:
        async with self._session() as session:
            row = await session.get(ApiKeyRow, key_id)
        return None if row is None else ApiKeyRecord.from_row(row)

    async def set_key_webhook(
        self, key_id: str, url: str | None, sealed_secret: str | None
    ) -> ApiKeyRecord:
        """Point a key's webhooks at `url` signed with a (sealed) new secret, or clear both."""
        if (url is None) != (sealed_secret is None):
            raise InvalidRequestError("a webhook URL needs its secret", param="webhook_url")
        async with self._session() as session:
            row = await session.get(ApiKeyRow, key_id)
            if row is None:
                raise NotFoundError(f"No API key with id '{key_id}'.", param="key_id")
            row.webhook_url, row.webhook_secret = url, sealed_secret
            await session.commit()
            return ApiKeyRecord.from_row(row)

    async def list_keys(self, *, include_revoked: bool = False) -> list[ApiKeyRecord]:
        query = select(ApiKeyRow).order_by(ApiKeyRow.created_at)
        if not include_revoked:
            query = query.where(ApiKeyRow.revoked_at.is_(None))
        async with self._session() as session:
            return [ApiKeyRecord.from_row(r) for r in (await session.execute(query)).scalars()]

    async def revoke_key(self, key_id: str) -> ApiKeyRecord:
        """Revoke a key (its jobs stay, owned by it); revoking twice is harmless."""
        async with self._session() as session:
            row = await session.get(ApiKeyRow, key_id)
            if row is None:
                raise NotFoundError(f"No API key with id '{key_id}'.", param="key_id")
            row.revoked_at = row.revoked_at or time.time()
            await session.commit()
            return ApiKeyRecord.from_row(row)

    async def tenant_keys(self) -> int:
        """How many active non-admin keys exist: with none, the gateway runs open."""
        async with self._session() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(ApiKeyRow)
                .where(ApiKeyRow.revoked_at.is_(None), ApiKeyRow.admin.is_(False))
            )
        return int(count or 0)

    async def running_jobs(self, owner: str) -> int:
        """A key's unfinished jobs (its concurrency)."""
        async with self._session() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(JobRow)
                .where(JobRow.owner == owner, JobRow.status.in_(_UNFINISHED))
            )
        return int(count or 0)
