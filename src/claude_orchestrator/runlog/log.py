"""The run log: every run, turn and supervisor call, written as it happens, in SQLite (a file,
WAL: `runlog/sqlite.py`) or PostgreSQL (a server shared by many machines: `runlog/postgres.py`),
chosen by the `--runlog` value's scheme. One interface, `RunLog`, and one migrations list for
both.

Each write commits at once, so a crash loses nothing: a turn is written with status ``sent``
*before* its message is delivered, so after a crash the in-flight message is known.

A run whose orchestrator died leaves the status ``running`` in the log. Reads never trust that
blindly: ``get_run`` and ``list_runs`` show such a run as ``interrupted`` when its pid is gone (same
host only), without rewriting the row; ``mark_interrupted_if_dead`` persists that when wanted.

Examples:
    >>> import tempfile, pathlib
    >>> with RunLog(pathlib.Path(tempfile.mkdtemp()) / "runs.sqlite3") as log:
    ...     run = log.start_run(mode="chat", task="hello", workdir="/tmp", model=None,
    ...                         session=None, socket=None, settings={"api_key": "x", "n": 1})
    ...     turn = log.begin_turn(run.id, "hi")
    ...     log.finish_turn(run.id, turn.seq, reply="hello", ended_by="hook")
    ...     (log.get_run(run.id[:10]).turns, log.get_run(run.id).settings)
    (1, {'n': 1})
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from claude_orchestrator.runlog.migrations import MIGRATIONS
from claude_orchestrator.runlog.rows import (
    MODES,
    RUN_STATUSES,
    BatchSummary,
    Pause,
    Row,
    RunLogError,
    RunLogFull,
    RunLogMissing,
    RunNotFound,
    RunRecord,
    SupervisorCall,
    TurnRecord,
    Usage,
    Verification,
    _dt,
    _iso,
    _now,
    _pid_alive,
    new_run_id,
    scrub_settings,
)
from claude_orchestrator.runlog.store import Db, settings_json
from claude_orchestrator.runlog.turns import TurnLog
from claude_orchestrator.trust import is_runlog_url

__all__ = [
    "MIGRATIONS", "MODES", "RUN_STATUSES", "BatchSummary", "Pause", "Row", "RunLog",
    "RunLogError", "RunLogFull", "RunLogMissing", "RunNotFound", "RunRecord", "SupervisorCall",
    "TurnRecord", "Usage", "Verification", "_dt", "_iso", "_now", "_pid_alive",
    "default_runlog_path", "new_run_id", "open_runlog", "scrub_settings",
]


def default_runlog_path() -> Path:
    """``$CLAUDE_ORCHESTRATOR_DATA_DIR/runs.sqlite3``, else the user's data directory.

    That is ``$XDG_DATA_HOME/claude-orchestrator`` when set, else ``~/Library/Application
    Support/claude-orchestrator`` on macOS and ``~/.local/share/claude-orchestrator`` elsewhere.
    """
    explicit = os.environ.get("CLAUDE_ORCHESTRATOR_DATA_DIR")
    if explicit:
        return Path(explicit).expanduser() / "runs.sqlite3"
    xdg = os.environ.get("XDG_DATA_HOME")
    if xdg and os.path.isabs(xdg):
        base = Path(xdg)
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path.home() / ".local" / "share"
    return base / "claude-orchestrator" / "runs.sqlite3"


def open_runlog(target: Path | str | None, **options: Any) -> RunLog:
    """The run log `target` names: a `postgresql://` URL, or a SQLite file (whose folder must
    exist: a typo must not make one); None is the default file (its folder made when
    missing)."""
    if target is None:
        return RunLog(default_runlog_path(), create_folder=True, **options)
    if isinstance(target, str) and is_runlog_url(target):
        return RunLog(target, **options)
    return RunLog(Path(target), create_folder=False, **options)


class RunLog(TurnLog):
    """A run log. ``RunLog(target, ...)`` opens the backend the target names (like `pathlib`'s
    `Path`): a path is a SQLite file (`SQLiteRunLog`), a ``postgresql://`` URL a database
    (`PostgresRunLog`). Options: ``redact`` (secrets never reach the log), ``readonly`` (never
    writes: `runs`, `show`), ``busy_limit`` (how long a busy or unreachable log is waited for,
    the data held in memory meanwhile), ``on_busy`` (hears once that it waits).
    """

    def __new__(cls, target: Path | str, *args: Any, **options: Any) -> RunLog:
        if cls is not RunLog:
            return super().__new__(cls)
        if isinstance(target, str) and is_runlog_url(target):
            try:
                from claude_orchestrator.runlog.postgres import PostgresRunLog
            except ImportError:
                raise RunLogError("a PostgreSQL run log needs psycopg: pip install "
                                  "'claude-orchestrator[postgres]'") from None
            return super().__new__(PostgresRunLog)
        from claude_orchestrator.runlog.sqlite import SQLiteRunLog

        return super().__new__(SQLiteRunLog)

    def __init__(self, target: Path | str, *args: Any, **options: Any) -> None:
        raise NotImplementedError  # a backend's own __init__ runs (see __new__)

    def __enter__(self) -> RunLog:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _migrate(self) -> None:
        """Apply what is missing of the migrations list, once each, in one transaction."""
        names = {m.__name__ for m in MIGRATIONS}
        done = self._applied()
        newer = sorted((done or set()) - names)
        if newer:
            raise RunLogError(f"the run log {self.where} was written by a newer "
                              f"claude-orchestrator (schema {newer[-1]}); upgrade to read it")
        if self.readonly:
            if done is None:  # another process is making it this moment
                raise RunLogMissing(f"no run log at {self.where} yet")
            if done != names:
                self._upgrade()
            return
        if done == names:
            return
        wanted = list(MIGRATIONS)

        def body(db: Db) -> None:
            self._lock_schema(db)
            db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, "
                       "applied_at TEXT)")
            # Again inside the transaction: two processes making the log at once (a batch's
            # first runs) both saw it empty; the second must not apply them twice.
            applied = {r[0] for r in db.execute("SELECT name FROM _migrations").fetchall()}
            for migration in wanted:
                if migration.__name__ not in applied:
                    migration(db)
                    db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                               (migration.__name__, _iso(None)))

        self._transact(body)

    # --- runs ---------------------------------------------------------------------------------

    def start_run(
        self,
        *,
        mode: str,
        task: str,
        workdir: str | Path,
        model: str | None,
        session: str | None,
        socket: str | None,
        settings: Any,
        run_id: str | None = None,
        queued: bool = False,
    ) -> RunRecord:
        """A new run (`run_id` chosen by the caller, e.g. a batch that names its branch after
        it; otherwise made here). A queued run waits for `resume` to start it (a batch's), and
        is claimed by this process until then."""
        if mode not in MODES:
            raise ValueError(f"unknown run mode {mode!r}")
        cols = ("id, mode, task, workdir, model, tmux_session, tmux_socket, settings, "
                "started_at, pid, host, status, claimed_by, position")
        chosen = run_id
        for _ in range(5):
            run_id = chosen or new_run_id()
            values = (run_id, mode, self.redact(task), str(workdir), model, session, socket,
                      settings_json(settings), _iso(_now()), os.getpid(), self._host,
                      "queued" if queued else "running", self.claimant if queued else None)
            try:
                self._insert(f"INSERT INTO runs ({cols}) VALUES ({'?, ' * 13}"
                             "(SELECT COALESCE(MAX(position), 0) + 1 FROM runs))", values)
            except self.integrity_errors:
                if chosen:
                    raise RunLogError(f"run id {chosen} is taken already") from None
                continue
            return self.get_run(run_id)
        raise RunLogError("could not allocate a unique run id")

    def _insert(self, sql: str, values: tuple[Any, ...]) -> None:
        self._transact(lambda db: db.execute(sql, values))

    def resume_run(self, run_id: str, *, force: bool = False) -> RunRecord:
        """Mark the run as running again, owned by this process (a queued run starts now). A
        compare-and-set on the row as read (its status and owner): of two processes starting
        one run at once (a batch resumed twice, a job adopted twice) one gets it, the other
        a RunLogError; `force` takes it whatever its row says."""
        run = self.get_run(run_id)
        if run.status == "running" and not force:  # its owner lives (or is on another host)
            raise RunLogError(f"run {run.id} was started meanwhile by another process (pid "
                              f"{run.pid} on {run.host})")
        guard = "" if force else " AND status = ? AND pid = ? AND host = ?"
        seen = () if force else (self._rows("SELECT status FROM runs WHERE id = ?",
                                            (run.id,))[0][0], run.pid, run.host)

        def body(db: Db) -> int:
            return db.execute(
                "UPDATE runs SET status = 'running', exit_code = NULL, ended_at = NULL,"
                " pid = ?, host = ?, started_at = CASE status WHEN 'queued' THEN ? ELSE"
                f" started_at END WHERE id = ?{guard}",
                (os.getpid(), self._host, _iso(None), run.id, *seen)).rowcount

        if not self._transact(body):
            now = self.get_run(run.id)
            raise RunLogError(f"run {run.id} was started meanwhile by another process (pid "
                              f"{now.pid} on {now.host})")
        return self.get_run(run.id)

    def set_activity(self, run_id: str, activity: str) -> None:
        """What the run does now (for `runs --watch`)."""
        self._update_run(run_id, "activity = ?, activity_at = ?", (activity, _iso(None)))

    def owner_alive(self, run: RunRecord) -> bool:
        """Whether the process recorded as the run's owner lives (on this machine)."""
        return run.host == self._host and _pid_alive(run.pid)

    def claim(self, run_id: str, seen: str | None) -> bool:
        """This process takes the batch's unfinished run to start it, if no other process took
        it since its row was read with `seen` as its claimant: a compare-and-set (each claim
        writes a value of its own), so two batches resuming at once never both start it.
        Whether this process got it."""
        def body(db: Db) -> int:
            return db.execute(
                "UPDATE runs SET claimed_by = ?, pid = CASE status WHEN 'queued' THEN ? ELSE pid"
                " END, host = CASE status WHEN 'queued' THEN ? ELSE host END WHERE id = ? AND"
                " COALESCE(claimed_by, '') = ? AND status IN ('queued', 'interrupted',"
                " 'running')", (f"{self.claimant}:{secrets.token_hex(3)}", os.getpid(), self._host,
                               run_id, seen or "")
            ).rowcount

        return bool(self._transact(body))

    def set_job(self, run_id: str, job_id: str, seen: str | None) -> bool:
        """Record the job that runs it (a Ray submission id) if the recorded one is still
        `seen` (a compare-and-set: two batches never both submit its next job)."""
        return bool(self._transact(lambda db: db.execute(
            "UPDATE runs SET job_id = ? WHERE id = ? AND COALESCE(job_id, '') = ?",
            (job_id, run_id, seen or "")).rowcount))

    def interrupt_if_running(self, run_id: str, *, pid: int, host: str, message: str) -> bool:
        """Record as interrupted, with `message`, a run whose row still says that process
        runs it (its job ended without it recording so: a node died, a kill); a run resumed
        elsewhere since is left alone."""
        return bool(self._transact(lambda db: db.execute(
            "UPDATE runs SET status = 'interrupted', exit_code = NULL, ended_at = ?,"
            " message = ?, next_step = ? WHERE id = ? AND status = 'running' AND pid = ? AND"
            " host = ?", (_iso(None), self.redact(message), f"claude-orchestrator resume {run_id}",
                          run_id, pid, host)).rowcount))

    def set_batch(self, run_id: str, batch_id: str | None, branch: str | None) -> None:
        self._update_run(run_id, "batch_id = ?, branch = ?", (batch_id, branch))

    def set_git(self, run_id: str, *, repo: str | None, base_commit: str | None,
                worktree: bool | None = None, workdir: str | None = None,
                remote: str | None = None) -> None:
        """Where the run's work is in git (and, once its worktree is made, the folder; the
        remote it clones from and pushes to, when it has one)."""
        self._update_run(run_id, "repo = ?, base_commit = ?", (repo, base_commit))
        if remote is not None:
            self._update_run(run_id, "git_remote = ?", (remote,))
        if worktree is not None:
            self._update_run(run_id, "worktree = ?", (int(worktree),))
        if workdir is not None:
            self._update_run(run_id, "workdir = ?", (workdir,))

    def set_changes(self, run_id: str, files: int, diffstat: str) -> None:
        """What the run's branch changed against its base, as it ended."""
        self._update_run(run_id, "files_changed = ?, diffstat = ?", (files, diffstat))

    def set_worktree_removed(self, run_id: str) -> None:
        self._update_run(run_id, "worktree = 0", ())

    def batch_runs(self, batch_id: str) -> list[RunRecord]:
        """A batch's runs in the order of its tasks."""
        return self._select_runs("WHERE batch_id = ? ORDER BY position, id", (batch_id,))

    def set_agent_session(self, run_id: str, session_id: str | None) -> None:
        self._update_run(run_id, "agent_session_id = ?", (session_id,))

    def finish_run(self, run_id: str, *, status: str, exit_code: int | None,
                   message: str | None, next_step: str | None = None) -> None:
        if status not in RUN_STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        self._update_run(run_id, "status = ?, exit_code = ?, message = ?, ended_at = ?, "
                         "next_step = ?", (status, exit_code, self._text(message), _iso(None),
                                           self._text(next_step or None)))

    def set_summary(self, run_id: str, summary: str) -> None:
        """The supervisor's summary of what was done (a complete run)."""
        self._update_run(run_id, "summary = ?", (self._text(summary),))

    def update_settings(self, run_id: str, settings: Any) -> None:
        """The settings in force now (a resume's flags win over what the run began with)."""
        self._update_run(run_id, "settings = ?", (settings_json(settings),))

    def mark_interrupted_if_dead(self) -> list[str]:
        """Persist 'interrupted' for runs left 'running' by a dead orchestrator (on this
        machine); their ids."""
        dead = [r.id for r in self._select_runs("WHERE status = 'running'", ())
                if r.status == "interrupted"]
        for run_id in dead:
            self._update_run(run_id, "status = 'interrupted', message = COALESCE(message, ?)",
                             ("the orchestrator process died",))
        return dead

    # --- reads --------------------------------------------------------------------------------

    def list_runs(self, limit: int = 50) -> list[RunRecord]:
        """The newest ``limit`` runs, newest first."""
        return self._select_runs("ORDER BY started_at DESC, position DESC LIMIT ?", (limit,))

    def live_runs(self, since: datetime, batch_id: str | None = None) -> list[RunRecord]:
        """Runs in progress and those that ended after `since` (for `runs --watch`), oldest
        first; only one batch's when `batch_id` is given."""
        where = "WHERE (status IN ('running', 'queued') OR ended_at >= ?)"
        params: tuple[Any, ...] = (_iso(since),)
        if batch_id is not None:
            where, params = where + " AND batch_id = ?", (*params, batch_id)
        return self._select_runs(where + " ORDER BY started_at, position LIMIT 200", params)

    def all_ids(self) -> list[str]:
        """Every run id (to show the shortest unique suffix of each)."""
        return [row["id"] for row in self._rows("SELECT id FROM runs", ())]

    def first_messages(self, run_ids: Sequence[str]) -> dict[str, str]:
        """Each run's first message (a chat run is named by it)."""
        if not run_ids:
            return {}
        marks = ", ".join("?" * len(run_ids))
        rows = self._rows(f"SELECT run_id, message FROM turns WHERE run_id IN ({marks}) "
                          "AND seq = 1", tuple(run_ids))
        return {row["run_id"]: row["message"] for row in rows}

    def batches(self) -> list[BatchSummary]:
        """Every batch, newest first: its runs by status, when it began, what it cost."""
        rows = self._rows(
            "SELECT batch_id, MIN(started_at) AS began, COUNT(*) AS n, "
            "SUM(cost_usd + claude_cost_usd) AS cost FROM runs WHERE batch_id IS NOT NULL "
            "GROUP BY batch_id ORDER BY began DESC", ())
        out = []
        for row in rows:
            statuses: dict[str, int] = {}
            for run in self.batch_runs(row["batch_id"]):
                statuses[run.status] = statuses.get(run.status, 0) + 1
            out.append(BatchSummary(row["batch_id"], datetime.fromisoformat(row["began"]),
                                    int(row["n"]), statuses, float(row["cost"] or 0.0)))
        return out

    def latest_turns(self, run_ids: Sequence[str]) -> dict[str, tuple[int, str]]:
        """Each run's latest turn: its number and status ('sent' while in flight)."""
        if not run_ids:
            return {}
        marks = ", ".join("?" * len(run_ids))
        rows = self._rows(f"SELECT run_id, seq, status FROM turns t WHERE run_id IN ({marks}) "
                          "AND seq = (SELECT MAX(seq) FROM turns WHERE run_id = t.run_id)",
                          tuple(run_ids))
        return {row["run_id"]: (row["seq"], row["status"]) for row in rows}

    def get_run(self, run_id: str) -> RunRecord:
        """The run with this id, or a unique prefix of one, or a unique suffix (what the tables
        show where space is short); RunNotFound otherwise."""
        found = self._select_runs("WHERE id = ?", (run_id,))
        if not found and run_id:
            escaped = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            found = self._select_runs("WHERE id LIKE ? ESCAPE '\\' ORDER BY id LIMIT 6",
                                      (escaped + "%",))
            if not found and len(run_id) >= 4:
                found = self._select_runs("WHERE id LIKE ? ESCAPE '\\' ORDER BY id LIMIT 6",
                                          ("%" + escaped,))
        if not found:
            raise RunNotFound(f"no run matches {run_id!r} (see `claude-orchestrator runs`)")
        if len(found) > 1:
            ids = ", ".join(r.id for r in found[:5]) + (", ..." if len(found) > 5 else "")
            raise RunNotFound(f"run id {run_id!r} is ambiguous: it matches {ids}")
        return found[0]
