"""The ledger: every job, status change, asset and cost is a row, written before anything is sent.

SQLAlchemy 2 (async) over SQLite by default (`SORAKIT_HOME/sorakit.db`, WAL mode) or Postgres by
URL; the schema is owned by ordered Alembic migrations in `migrations/versions/`, applied on open.
"""

from sorakit.ledger.pipelines import Budget
from sorakit.ledger.records import (
    ApiKeyRecord,
    AssetRecord,
    EventRecord,
    JobRecord,
    JobStatus,
    PipelineRecord,
    PipelineStatus,
    Spend,
)
from sorakit.ledger.store import Ledger

__all__ = [
    "ApiKeyRecord",
    "AssetRecord",
    "Budget",
    "EventRecord",
    "JobRecord",
    "JobStatus",
    "Ledger",
    "PipelineRecord",
    "PipelineStatus",
    "Spend",
]
