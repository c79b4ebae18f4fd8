"""Shared fixtures: the demo config, a manual clock, the shared example log."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from server.core.clock import ManualClock
from server.core.config import BranchConfig, load_config

ROOT = Path(__file__).resolve().parent.parent
SHANGHAI = timezone(timedelta(hours=8))


def _shared() -> Path:
    """The shared folder beside the checkout (as laid for sessions and CI)."""
    return ROOT.parent / "shared"


@pytest.fixture
def demo_config() -> BranchConfig:
    return load_config(ROOT / "server" / "branches" / "demo.toml")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))


@pytest.fixture
def demo_day_log() -> Path:
    path = _shared() / "examples" / "demo-day.jsonl"
    if not path.exists():
        pytest.fail(f"the shared example log is missing: {path.name} (shared/examples beside the checkout)")
    return path
