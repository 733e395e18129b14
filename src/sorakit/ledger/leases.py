"""Job leases: one worker at a time submits, polls and downloads a job.

Two `sorakit serve` processes on one database, or a server and a `sorakit jobs resume`, would
otherwise both pick up the same unfinished job, and a job submitted twice is paid twice. A
worker claims a job with one conditional UPDATE (free, expired, or already its own), renews all
its leases together on a heartbeat, and releases each when done. A lease held by a process that
died on this host is taken over at once; elsewhere it runs out after `LEASE_SECONDS`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sorakit.ledger.tables import JobRow

LEASE_SECONDS = 30.0


def new_worker_id() -> str:
    """`host:pid:nonce`: unique per runner, and tells whether its process is still alive."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _dead_here(worker: str) -> bool:
    """Whether the worker ran on this host in a process that no longer exists."""
    host, _, rest = worker.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


class LeaseStore:
    """The lease half of the ledger (mixed into `Ledger`)."""

    _session: async_sessionmaker[AsyncSession]

    async def claim(self, job_id: str, worker: str, seconds: float = LEASE_SECONDS) -> bool:
        """Take the job's lease if it is free, expired, ours, or held by a dead local process."""
        now = time.time()
        async with self._session() as session:
            result = await session.execute(
                update(JobRow)
                .where(
                    JobRow.id == job_id,
                    or_(
                        JobRow.lease_owner.is_(None),
                        JobRow.lease_until < now,
                        JobRow.lease_owner == worker,
                    ),
                )
                .values(lease_owner=worker, lease_until=now + seconds)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                await session.commit()
                return True
            holder = await session.scalar(select(JobRow.lease_owner).where(JobRow.id == job_id))
            if holder is None or not _dead_here(holder):
                return False
            taken = await session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.lease_owner == holder)
                .values(lease_owner=worker, lease_until=now + seconds)
            )
            await session.commit()
            return bool(taken.rowcount == 1)  # type: ignore[attr-defined]

    async def renew(self, worker: str, seconds: float = LEASE_SECONDS) -> None:
        """Extend every lease the worker holds."""
        async with self._session() as session:
            await session.execute(
                update(JobRow)
                .where(JobRow.lease_owner == worker)
                .values(lease_until=time.time() + seconds)
            )
            await session.commit()

    async def release(self, job_id: str, worker: str) -> None:
        """Give the job's lease back (a no-op when another worker holds it)."""
        with contextlib.suppress(Exception):  # best effort: the lease expires anyway
            async with self._session() as session:
                await session.execute(
                    update(JobRow)
                    .where(JobRow.id == job_id, JobRow.lease_owner == worker)
                    .values(lease_owner=None, lease_until=None)
                )
                await session.commit()
