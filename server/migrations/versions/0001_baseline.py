"""Baseline: every branch's event log and the Idempotency-Key answers.

Revision ID: 0001
Revises:
Create Date: 2026-11-29

The schema `Store.create_all` made before migrations existed; such a
database is stamped with this revision, not re-created (server.migrations).
Plain SQLAlchemy types, so the file does not depend on SQLModel's internals.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.String(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        # One writer per seq: what keeps the log linear across processes (server/service.py).
        sa.UniqueConstraint("branch", "seq", name="uq_events_branch_seq"),
    )
    op.create_index("ix_events_ts", "events", ["ts"], unique=False)
    op.create_table(
        "idempotency",
        sa.Column("branch", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("request", sa.String(length=512), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("response", sa.String(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("branch", "key"),
    )


def downgrade() -> None:
    op.drop_table("idempotency")
    op.drop_index("ix_events_ts", table_name="events")
    op.drop_table("events")
