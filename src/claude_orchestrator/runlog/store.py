"""What every run-log backend shares below the records: one transaction at a time through
`_transact`, reads through `_rows`, the schema brought up to date through the one migrations
list, and rows turned into `RunRecord`s.

The SQL of the records is written once, in the dialect both SQLite and PostgreSQL accept (`?`
placeholders; the PostgreSQL backend turns them into its own). A backend supplies the
connection: how a transaction is begun, retried and committed, and what it calls its tables.
"""

from __future__ import annotations

import json
import os
import secrets
import socket as _socket
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from claude_orchestrator.runlog.rows import (
    Row,
    RunNotFound,
    RunRecord,
    _dt,
    _pid_alive,
    scrub_settings,
)

T = TypeVar("T")


class Cursor(Protocol):
    """What a statement gives back."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Db(Protocol):
    """One transaction's connection as the records' SQL uses it (`?` placeholders), and which
    dialect it speaks (`sqlite` or `postgresql`: a migration may add a step for one)."""

    dialect: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...


class Store:
    """The backend-neutral core of a run log. Subclasses set `where` (the log as it may be
    shown: a path, or a URL without its password), `location` (what opens it again, which may
    hold a password: never shown), `folder` (a local folder for what lives beside the log on
    this machine: worktrees/, batches/) and implement the primitives below."""

    dialect = ""
    where = ""
    location = ""
    folder: Path
    readonly = False
    integrity_errors: tuple[type[BaseException], ...] = ()

    def _setup(self, redact: Callable[[str], str] | None, readonly: bool, busy_limit: float,
               on_busy: Callable[[str], None] | None) -> None:
        self.redact = redact or (lambda text: text)  # secrets never reach the log
        self.readonly = readonly
        self.busy_limit = busy_limit
        self.on_busy = on_busy
        self._host = _socket.gethostname()
        # Who claims a batch's run in this process: host, pid and a nonce (a pid is reused).
        self.claimant = f"{self._host}:{os.getpid()}:{secrets.token_hex(3)}"

    # --- what a backend provides -------------------------------------------------------------

    def _transact(self, body: Callable[[Db], T]) -> T:
        """Run `body` in one write transaction, committed when it returns; retried whole while
        the log is busy or unreachable (so `body` must only touch the database)."""
        raise NotImplementedError

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        raise NotImplementedError

    def _applied(self) -> set[str] | None:
        """The migrations recorded as applied; None when the log has no schema yet."""
        raise NotImplementedError

    def _lock_schema(self, db: Db) -> None:
        """Inside the migrating transaction: keep other processes from migrating at once."""

    def _upgrade(self) -> None:
        """A reader of a log an older release wrote: bring its schema up to date first."""
        raise NotImplementedError

    def data_version(self) -> int:
        """A number that changes whenever another connection commits to the log."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # --- helpers the records share ------------------------------------------------------------

    def _text(self, text: str | None) -> str | None:
        return None if text is None else self.redact(text)

    def _update_run(self, run_id: str, assignments: str, params: tuple[Any, ...]) -> None:
        def body(db: Db) -> None:
            cur = db.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*params, run_id))
            if cur.rowcount == 0:
                raise RunNotFound(f"no run {run_id!r}")

        self._transact(body)

    def _select_runs(self, where: str, params: tuple[Any, ...]) -> list[RunRecord]:
        return [self._run(row) for row in self._rows(f"SELECT * FROM runs {where}", params)]

    def _run(self, row: Row) -> RunRecord:
        status = row["status"]
        if status == "running" and row["host"] == self._host and not _pid_alive(row["pid"]):
            status = "interrupted"
        return RunRecord(
            id=row["id"], mode=row["mode"], task=row["task"], workdir=row["workdir"],
            model=row["model"], session=row["tmux_session"], socket=row["tmux_socket"],
            agent_session_id=row["agent_session_id"], settings=json.loads(row["settings"]),
            status=status, exit_code=row["exit_code"], message=row["message"],
            started_at=datetime.fromisoformat(row["started_at"]), ended_at=_dt(row["ended_at"]),
            pid=row["pid"], host=row["host"], turns=row["turns"],
            prompt_tokens=row["prompt_tokens"], completion_tokens=row["completion_tokens"],
            cost_usd=row["cost_usd"], claude_tokens=row["claude_tokens"],
            claude_cost_usd=row["claude_cost_usd"], activity=row["activity"],
            activity_at=_dt(row["activity_at"]), batch_id=row["batch_id"], branch=row["branch"],
            next_step=row["next_step"], repo=row["repo"], base_commit=row["base_commit"],
            worktree=bool(row["worktree"]), files_changed=row["files_changed"],
            diffstat=row["diffstat"], summary=row["summary"], job_id=row["job_id"],
            claimed_by=row["claimed_by"], git_remote=row["git_remote"],
        )

    @staticmethod
    def _next_seq(db: Db, table: str, run_id: str) -> int:
        if db.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
            raise RunNotFound(f"no run {run_id!r}")
        row = db.execute(f"SELECT COALESCE(MAX(seq), 0) + 1 FROM {table} WHERE run_id = ?",
                         (run_id,)).fetchone()
        return int(row[0])


def settings_json(settings: Mapping[str, Any]) -> str:
    """Settings as stored: secret-like keys dropped (rows.scrub_settings)."""
    return json.dumps(scrub_settings(settings), default=str)
