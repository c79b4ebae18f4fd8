"""The server's settings: the one place that reads the environment.

Everything else receives a `Settings` instance. Variables use the prefix
BRANCHQ_ (BRANCHQ_DATA_DIR, BRANCHQ_PORT, ...); the database and Redis also
answer to the conventional DATABASE_URL and REDIS_URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from server.core.config import BranchConfig, load_config

DEMO_CONFIG = Path(__file__).resolve().parent / "branches" / "demo.toml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BRANCHQ_", extra="ignore", populate_by_name=True)

    data_dir: Path = Path("data")
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "BRANCHQ_DATABASE_URL", "database_url")
    )
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "BRANCHQ_REDIS_URL", "redis_url")
    )
    # Channels on Redis are named {redis_prefix}events:{branch}; deployments sharing a Redis use different prefixes.
    redis_prefix: str = "branchq:"
    # Branch config files (TOML). Empty: the demo branch (server/branches/demo.toml).
    branch_configs: list[Path] = Field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 8000
    # Screens: the address phones use to reach the ticket page (the kiosk's QR code),
    # when it differs from the one the kiosk uses; an ESC/POS printer "host[:port]".
    public_url: str | None = None
    printer: str | None = None
    reports_dir: Path = Path("reports")  # the simulator's HTML reports, served at /reports/ (manager page links)

    # Limits that keep a bad client from hurting the branch.
    max_body_bytes: int = 64 * 1024  # an action body is a few hundred bytes
    max_import_bytes: int = 64 * 1024 * 1024  # a year of a busy branch is ~30 MB of JSONL
    ws_queue_size: int = 256  # messages a screen may fall behind before it is resynced
    ws_history: int = 1024  # recent messages kept per branch for ?since= resumes
    ws_max_per_address: int = 50  # open WebSockets from one client address (a lobby has a handful of screens)
    ws_max_total: int = 2000  # open WebSockets in all (each costs a queue and a send per event)
    # permessage-deflate for screens: off by default. Every message carries the branch's view
    # (several KB) and is compressed once per screen; bench/load.py measured that as the
    # largest share of the server's CPU, while a LAN carries the raw bytes easily.
    ws_compression: bool = False
    refresh_seconds: float = 15.0  # how often screens get fresh wait texts without events
    estimate_delay_seconds: float = 0.3  # after a change, fresh estimates reach screens this much later
    day_check_seconds: float = 30.0  # how soon after the business day turns it is closed out
    branch_poll_seconds: float = 5.0  # how soon a branch another process added (admin API) goes live here
    estimator: bool = True  # False: no wait estimates at all (BRANCHQ_ESTIMATOR=false; the bench compares)
    # True: the estimator runs in a child process, off the event loop (server/estimator_process.py);
    # False: on the loop, as the in-process tests and `branchq evaluate` run it.
    estimator_process: bool = True
    # Security (docs/security.md). Sessions and device tokens expire; issuance is rate limited.
    session_hours: float = 12.0  # a working day; then sign in again
    device_days: float = 365.0  # a kiosk's or screen's token
    kiosk_tickets_per_minute: float = 30.0  # per kiosk device (a rush is ~4 a minute)
    mobile_tickets: bool = False  # the public may take tickets from a phone (channel "mobile"); --demo turns it on
    mobile_tickets_per_minute: float = 3.0  # per client address
    sign_ins_per_minute: float = 10.0  # password attempts per client address
    cors_origins: list[str] = Field(default_factory=list)  # other web origins allowed to call the API; none by default
    # Where commits run: one dedicated thread (the event loop stays free; default)
    # or on the loop itself (no hand-off; bench/server.py compares the two).
    writer: Literal["thread", "loop"] = "thread"
    # PostgreSQL only: commits of different branches run on this many threads, each with its own
    # connection, so the database groups their fsyncs (a branch's own actions stay one at a time).
    pg_writer_threads: int = Field(default=4, ge=1, le=32)

    @property
    def db_url(self) -> str:
        """DATABASE_URL if set, else a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'branchq.db'}"

    def configs(self) -> dict[str, BranchConfig]:
        """The configured branches by id (the demo branch when none are set)."""
        paths = self.branch_configs or [DEMO_CONFIG]
        configs = [load_config(p) for p in paths]
        return {c.branch: c for c in configs}
