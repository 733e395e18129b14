"""Upstream credential pools, catalog overrides (aliases, prices) and per-key webhooks.

Revision ID: m006
Revises: m005
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "m006"
down_revision = "m005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upstream_credentials",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("provider", sa.String(64), nullable=False, index=True),
        sa.Column("label", sa.String(128), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("proxy", sa.Text(), nullable=True),
        sa.Column("base_url", sa.Text(), nullable=True),
        sa.Column("max_concurrency", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("auth_failures", sa.Integer(), nullable=False),
        sa.Column("cooldown_until", sa.Float(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("jobs_submitted", sa.Integer(), nullable=False),
        sa.Column("last_used_at", sa.Float(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("removed_at", sa.Float(), nullable=True),
    )
    op.create_table(
        "upstream_pools",
        sa.Column("provider", sa.String(64), primary_key=True),
        sa.Column("strategy", sa.String(16), nullable=False),
        sa.Column("proxy", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "catalog_overrides",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.add_column("jobs", sa.Column("credential_id", sa.String(64), nullable=True))
    op.add_column("api_keys", sa.Column("webhook_url", sa.Text(), nullable=True))
    op.add_column("api_keys", sa.Column("webhook_secret", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("api_keys", "webhook_secret")
    op.drop_column("api_keys", "webhook_url")
    op.drop_column("jobs", "credential_id")
    op.drop_table("catalog_overrides")
    op.drop_table("upstream_pools")
    op.drop_table("upstream_credentials")
