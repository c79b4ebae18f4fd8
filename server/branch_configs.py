"""Branch configs kept in the database: the branches an admin adds through the API (server/admin_api.py).

File configs (settings.branch_configs, the demo) are the deployment's own and
read-only here; a branch added through the API lives in this table, is loaded
at every start-up besides the files, and goes live in the process that
received it at once, in the others within `branch_poll_seconds`. The config
in force for a running branch is also in its event log (`branch_config`),
which is what other processes catch up on.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, SQLModel

from server.core.config import BranchConfig, config_from_mapping
from server.store import Store


class BranchConfigRow(SQLModel, table=True):
    """One branch's config as an admin last saved it (the JSON of `BranchConfig.event_fields`)."""

    __tablename__ = "branch_configs"

    branch: str = Field(primary_key=True, max_length=64)
    config: str  # JSON
    updated_at: datetime
    updated_by: str | None = Field(default=None, max_length=128)  # who saved it (issue 5 fills it)


_TABLE = BranchConfigRow.__table__  # type: ignore[attr-defined]


def saved_configs(store: Store) -> dict[str, BranchConfig]:
    """Every branch config saved through the API, by branch id."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(_TABLE.c.branch, _TABLE.c.config)).all()
    return {branch: config_from_mapping(json.loads(text)) for branch, text in rows}


def save_config(store: Store, config: BranchConfig, by: str | None = None) -> None:
    """Insert or replace the branch's config (one statement on either engine)."""
    values: dict[str, Any] = {
        "branch": config.branch, "updated_by": by, "updated_at": datetime.now(UTC),
        "config": json.dumps(config.event_fields(), ensure_ascii=False),
    }
    dialect = postgresql if store.engine.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(_TABLE).values(**values)
    stmt = stmt.on_conflict_do_update(index_elements=["branch"], set_={k: stmt.excluded[k] for k in values})
    with store.engine.begin() as conn:
        conn.execute(stmt)
