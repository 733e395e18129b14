"""The ledger: every job, status change, asset and cost is a row, written before anything is sent.

SQLAlchemy 2 (async) over SQLite by default (`SORAKIT_HOME/sorakit.db`, WAL mode) or Postgres by
URL; the schema is owned by ordered Alembic migrations in `migrations/versions/`, applied on open.
"""

from sorakit.ledger.records import AssetRecord, EventRecord, JobRecord, JobStatus
from sorakit.ledger.store import Ledger

__all__ = ["AssetRecord", "EventRecord", "JobRecord", "JobStatus", "Ledger"]
