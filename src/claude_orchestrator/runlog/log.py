"""The run log: every run, turn and supervisor call in SQLite, written as it happens.

Each write commits at once (WAL journal), so a crash loses nothing: a turn is written with status
``sent`` *before* its message is delivered, so after a crash the in-flight message is known.

A run whose orchestrator died leaves the status ``running`` on disk.  Reads never trust that
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

import contextlib
import errno
import json
import os
import re
import secrets
import socket as _socket
import sqlite3
import stat
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from claude_orchestrator.errors import UsageError
from claude_orchestrator.runlog.migrations import MIGRATIONS
from claude_orchestrator.runtime.state import UnsafeState, check_parents, make_dirs

MODES = ("autonomous", "chat")
RUN_STATUSES = ("running", "complete", "interrupted", "failed", "budget", "refused", "quit",
                "stuck", "queued")
_SECRET_KEY = re.compile(r"key|token(?!s)|secret|passw|credential|auth", re.IGNORECASE)


class RunLogError(UsageError):
    """A run-log failure, with a one-line message (exit 2: the log is unusable as given)."""


class RunLogFull(RunLogError):
    """The disk holding the run log is full: the log is fine, the write was not made (exit 1:
    a runtime failure, not a bad setting)."""

    exit_status = 1


class RunLogMissing(RunLogError):
    """There is no run log yet (nothing was recorded)."""


class RunNotFound(RunLogError):
    """No run (or more than one run) matches the given id or prefix."""


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


def new_run_id() -> str:
    """`20261201-020044-ab8d`: sortable by time, unique enough to type a prefix of."""
    return f"{_now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def open_runlog(path: Path | None, **options: Any) -> RunLog:
    """The run log at `path` (a folder that does not exist is an error: a typo must not make
    one), or at the default place (its folder made when missing)."""
    if path is None:
        return RunLog(default_runlog_path(), create_folder=True, **options)
    return RunLog(path, create_folder=False, **options)


# --- rows ----------------------------------------------------------------------------------


class Usage(Protocol):
    """One model's tokens for a turn, as the agent's transcript counts them (what
    `agents.prices.Tokens` holds: the run log records counts, it knows no agent)."""

    @property
    def input(self) -> int: ...

    @property
    def output(self) -> int: ...

    @property
    def cache_write(self) -> int: ...

    @property
    def cache_read(self) -> int: ...


@dataclass(frozen=True)
class _Total:
    input: int
    output: int
    cache_write: int
    cache_read: int

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_write + self.cache_read


@dataclass(frozen=True)
class RunRecord:
    id: str
    mode: str
    task: str
    workdir: str
    model: str | None
    session: str | None
    socket: str | None
    agent_session_id: str | None
    settings: dict[str, Any]
    status: str  # as shown: 'running' with a dead pid reads as 'interrupted'
    exit_code: int | None
    message: str | None
    started_at: datetime
    ended_at: datetime | None
    pid: int
    host: str
    turns: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float  # the supervisor's, as its API reported it
    claude_tokens: int = 0
    claude_cost_usd: float = 0.0  # Claude's own, estimated from its tokens (agents/prices.py)
    activity: str | None = None  # what it does now: working, supervisor, paused: limit, ...
    activity_at: datetime | None = None
    batch_id: str | None = None
    branch: str | None = None
    next_step: str | None = None  # the command that continues a run that stopped short
    repo: str | None = None  # the person's git repository the run's work belongs to
    base_commit: str | None = None  # the commit the run started from
    worktree: bool = False  # it works in a worktree of its own (until `clean`)
    files_changed: int | None = None  # what its branch changed, as it ended
    diffstat: str | None = None
    summary: str | None = None  # the supervisor's final summary of a complete run

    @property
    def total_cost_usd(self) -> float:
        """What the run cost: the supervisor's calls and Claude's work (an estimate)."""
        return self.cost_usd + self.claude_cost_usd


@dataclass(frozen=True)
class BatchSummary:
    id: str
    started: datetime
    runs: int
    statuses: dict[str, int]  # status -> how many runs
    cost_usd: float

    def as_dict(self) -> dict[str, Any]:
        return {"batch": self.id, "started": self.started.isoformat(), "runs": self.runs,
                "statuses": self.statuses, "cost_usd": round(self.cost_usd, 6)}


@dataclass(frozen=True)
class Pause:
    run_id: str
    seq: int
    turn_seq: int | None
    reason: str
    started_at: datetime
    until_at: datetime | None
    ended_at: datetime | None
    text: str | None


@dataclass(frozen=True)
class Verification:
    run_id: str
    seq: int
    at: datetime
    command: str
    status: int | None  # None: it did not finish within its time
    seconds: float
    output: str | None


@dataclass(frozen=True)
class TurnRecord:
    run_id: str
    seq: int
    message: str
    status: str  # 'sent' | 'done' | 'failed'
    sent_at: datetime
    delivered_at: datetime | None
    ended_at: datetime | None
    reply: str | None
    ended_by: str | None
    recovery: str | None
    error: str | None
    timings: dict[str, Any] | None
    events_mark: int | None = None
    error_kind: str | None = None
    output: str | None = None
    source: str = "supervisor"  # who sent the message: supervisor, person, chat
    claude_tokens: int = 0
    claude_cost_usd: float = 0.0
    tools: tuple[dict[str, Any], ...] = ()  # {tool, detail, failed}: what Claude used


@dataclass(frozen=True)
class SupervisorCall:
    run_id: str
    seq: int
    at: datetime
    message_count: int
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    reply: str | None
    attempts: int


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(dt: datetime | None) -> str:
    """ISO-8601 UTC text (a naive datetime is taken as local time); None means now."""
    return (dt or _now()).astimezone(UTC).isoformat(timespec="microseconds")


def _dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False
    return True


def scrub_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Drop secret-like keys (key, token, secret, password...) at any depth, and ``sk-`` values.

    ``*_tokens`` (a count, e.g. ``max_tokens``) is kept; ``token`` alone is not. A switch or a
    number under such a name (``accept_api_key: true``) and a ``*_file`` path hold no secret.
    """
    clean: dict[str, Any] = {}
    for name, value in settings.items():
        harmless = isinstance(value, (bool, int, float)) or str(name).endswith("_file")
        if _SECRET_KEY.search(str(name)) and not harmless:
            continue
        if isinstance(value, Mapping):
            value = scrub_settings(value)
        elif isinstance(value, str) and value.startswith("sk-"):
            continue
        clean[str(name)] = value
    return clean


class RunLog:
    """The run log at ``path``; one writer per process is enough (calls are serialised).

    Opened for reading only (``readonly``: `runs`, `show`), it never writes, so a read-only file
    still lists. A log that is busy (another program holds its write lock) is waited for, with
    retries up to ``busy_limit`` seconds, while the data to write stays in memory; ``on_busy``
    hears once that it waits. A corrupt log, one written by a newer version, a read-only one
    opened for writing, or a missing folder it may not create is a one-line ``RunLogError``.
    """

    def __init__(self, path: Path | str, *, busy_timeout: float = 1.0,
                 redact: Callable[[str], str] | None = None, readonly: bool = False,
                 create_folder: bool = True, busy_limit: float = 600.0,
                 on_busy: Callable[[str], None] | None = None) -> None:
        self.path = Path(path).expanduser()
        self.redact = redact or (lambda text: text)  # secrets never reach the file
        self.readonly = readonly
        self.busy_limit = busy_limit
        self.on_busy = on_busy
        self._lock = threading.RLock()
        self._host = _socket.gethostname()
        if readonly:
            if not self.path.is_file():
                raise RunLogMissing(f"no run log at {self.path}")
            target = f"file:{urllib.parse.quote(str(self.path))}?mode=ro"
        else:
            self._make_file(create_folder)
            target = str(self.path)
        try:
            self._connect(target, busy_timeout)
        except sqlite3.DatabaseError as e:
            if not readonly or "readonly" not in str(e) + str(getattr(e, "sqlite_errorname", "")):
                raise self._unusable(e) from None
            # A WAL log read by someone who may not write beside it (no -shm file to make):
            # read it as it is on disk.
            try:
                self._connect(target + "&immutable=1", busy_timeout)
            except sqlite3.DatabaseError as e2:
                raise self._unusable(e2) from None

    def _connect(self, target: str, busy_timeout: float) -> None:
        self._db = sqlite3.connect(target, timeout=busy_timeout, isolation_level=None,
                                   check_same_thread=False, uri=self.readonly)
        try:
            self._db.row_factory = sqlite3.Row
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            if not self.readonly:
                # Processes making the log at once: SQLite refuses the switch to WAL at once
                # (no busy wait, it would deadlock) while another holds the lock, so wait it out.
                self._retrying("PRAGMA journal_mode = WAL", tell_after=busy_timeout)
                # In WAL mode NORMAL keeps every commit through a crash of any process (ours,
                # tmux, Claude); only a power cut can lose the last ones. FULL fsyncs each one.
                self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except BaseException:
            self._db.close()
            raise

    def _make_file(self, create_folder: bool) -> None:
        """The log's file, made 0600 when missing. Its folder (and every one above it) must be
        closed to other users' writes (runtime/state.py `check_parents`): batches/ and
        worktrees/ are made beside the log. A file of another user is refused, never chmod-ed
        (it was, and then written into)."""
        folder = self.path.parent
        if not folder.is_dir():
            if not create_folder:
                raise RunLogError(f"the run log's folder does not exist: {folder}")
            try:
                make_dirs(folder)
            except UnsafeState as e:
                raise RunLogError(f"cannot make the run log's folder: {e}") from None
        try:
            check_parents(self.path)
        except UnsafeState as e:
            raise RunLogError(str(e)) from None
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as e:
            if e.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
                raise RunLogError(f"the run log {self.path} is read-only ({e.strerror}); "
                                  "`runs` and `show` still read it") from None
            raise RunLogError(f"cannot open the run log {self.path}: {e.strerror}") from None
        try:
            info = os.fstat(fd)
            if info.st_uid != os.getuid():
                raise RunLogError(f"refusing the run log {self.path}: it belongs to uid "
                                  f"{info.st_uid}, not to you (give --runlog a file of yours)")
            if not stat.S_ISREG(info.st_mode):
                raise RunLogError(f"refusing the run log {self.path}: not a regular file")
            if info.st_mode & 0o077:
                os.fchmod(fd, 0o600)
        finally:
            os.close(fd)

    def _unusable(self, e: sqlite3.DatabaseError) -> RunLogError:
        text = str(e)
        if "readonly" in text or "read-only" in text:
            return RunLogError(f"the run log {self.path} is read-only; `runs` and `show` still "
                               "read it")
        if "locked" in text or "busy" in text:
            return RunLogError(f"the run log {self.path} stayed locked by another program for "
                               f"{self.busy_limit:g}s")
        if "full" in text:  # SQLITE_FULL: the transaction was rolled back, the file is whole
            return RunLogFull(f"the disk holding the run log {self.path} is full: free some "
                              "space and resume the run (the log itself is fine)")
        return RunLogError(f"the run log {self.path} is unusable ({text}); move it away to "
                           "start a new one")

    def _migrate(self) -> None:
        names = {m.__name__ for m in MIGRATIONS}
        tables = {r[0] for r in self._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        done = ({r[0] for r in self._db.execute("SELECT name FROM _migrations")}
                if "_migrations" in tables else set())
        newer = sorted(done - names)
        if newer:
            raise RunLogError(f"the run log {self.path} was written by a newer "
                              f"claude-orchestrator (schema {newer[-1]}); upgrade to read it")
        if self.readonly:
            if "_migrations" not in tables:  # another process is making it this moment
                raise RunLogMissing(f"no run log at {self.path} yet")
            if done != names:
                self._upgrade()
            return
        if done == names:
            return
        with self._write() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)"
            )
            # Again inside the transaction: two processes making the log at once (a batch's
            # first runs) both saw it empty; the second must not apply them twice.
            done = {r[0] for r in db.execute("SELECT name FROM _migrations")}
            for migration in MIGRATIONS:
                if migration.__name__ not in done:
                    migration(db)
                    db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                               (migration.__name__, _iso(None)))

    def _upgrade(self) -> None:
        """A reader of a log an older release wrote: bring its schema up to date first (what
        the next run would do), so every column this release reads is there."""
        try:
            RunLog(self.path).close()
        except RunLogError as e:
            raise RunLogError(f"the run log {self.path} was written by an older "
                              "claude-orchestrator and cannot be upgraded by this user; run "
                              f"this release once as its owner ({e})") from None

    def _retrying(self, statement: str, tell_after: float = 0.0) -> None:
        """Run BEGIN, COMMIT or the switch to WAL, waiting out another program's lock (the data
        is held in memory meanwhile), up to `busy_limit`; `on_busy` hears of it after
        `tell_after` seconds."""
        begun = time.monotonic()
        deadline = begun + self.busy_limit
        pause, told = 0.05, False
        while True:
            try:
                self._db.execute(statement)
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e):
                    raise self._unusable(e) from None
                if time.monotonic() >= deadline:
                    raise self._unusable(e) from None
                if (not told and self.on_busy is not None
                        and time.monotonic() - begun >= tell_after):
                    told = True
                    self.on_busy(f"the run log {self.path} is locked by another program; "
                                 "waiting (nothing is lost meanwhile)")
                time.sleep(pause)
                pause = min(pause * 2, 1.0)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One immediate transaction, committed on exit (rolled back on error)."""
        if self.readonly:
            raise RunLogError(f"the run log {self.path} was opened for reading only")
        with self._lock:
            self._retrying("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            try:
                self._retrying("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as e:
                raise self._unusable(e) from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> RunLog:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

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
        settings: Mapping[str, Any],
        run_id: str | None = None,
        queued: bool = False,
    ) -> RunRecord:
        """A new run (`run_id` chosen by the caller, e.g. a batch that names its branch after
        it; otherwise made here). A queued run waits for `resume` to start it (a batch's)."""
        if mode not in MODES:
            raise ValueError(f"unknown run mode {mode!r}")
        cols = "id, mode, task, workdir, model, tmux_session, tmux_socket, settings, started_at"
        chosen = run_id
        for _ in range(5):
            now = _now()
            run_id = chosen or new_run_id()
            values = (run_id, mode, self.redact(task), str(workdir), model, session, socket,
                      json.dumps(scrub_settings(settings), default=str), _iso(now),
                      os.getpid(), self._host)
            try:
                with self._write() as db:
                    db.execute(f"INSERT INTO runs ({cols}, pid, host, status) "
                               f"VALUES ({'?, ' * 11}?)",
                               (*values, "queued" if queued else "running"))
            except sqlite3.IntegrityError:
                if chosen:
                    raise RunLogError(f"run id {chosen} is taken already") from None
                continue
            return self.get_run(run_id)
        raise RunLogError("could not allocate a unique run id")

    def resume_run(self, run_id: str) -> RunRecord:
        """Mark the run as running again, owned by this process (a queued run starts now)."""
        run = self.get_run(run_id)
        with self._write() as db:
            db.execute("UPDATE runs SET status = 'running', exit_code = NULL, ended_at = NULL,"
                       " pid = ?, host = ?, started_at = CASE status WHEN 'queued' THEN ? ELSE"
                       " started_at END WHERE id = ?",
                       (os.getpid(), self._host, _iso(None), run.id))
        return self.get_run(run.id)

    def set_activity(self, run_id: str, activity: str) -> None:
        """What the run does now (for `runs --watch`)."""
        self._update_run(run_id, "activity = ?, activity_at = ?", (activity, _iso(None)))

    def owner_alive(self, run: RunRecord) -> bool:
        """Whether the process recorded as the run's owner lives (on this machine)."""
        return run.host == self._host and _pid_alive(run.pid)

    def claim(self, run_id: str) -> None:
        """This process now owns the queued run (a batch resumed by another process)."""
        self._update_run(run_id, "pid = ?, host = ?", (os.getpid(), self._host))

    def set_batch(self, run_id: str, batch_id: str | None, branch: str | None) -> None:
        self._update_run(run_id, "batch_id = ?, branch = ?", (batch_id, branch))

    def set_git(self, run_id: str, *, repo: str | None, base_commit: str | None,
                worktree: bool | None = None, workdir: str | None = None) -> None:
        """Where the run's work is in git (and, once its worktree is made, the folder)."""
        self._update_run(run_id, "repo = ?, base_commit = ?", (repo, base_commit))
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
        return self._select_runs("WHERE batch_id = ? ORDER BY rowid", (batch_id,))

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

    def update_settings(self, run_id: str, settings: Mapping[str, Any]) -> None:
        """The settings in force now (a resume's flags win over what the run began with)."""
        self._update_run(run_id, "settings = ?",
                         (json.dumps(scrub_settings(settings), default=str),))

    def mark_interrupted_if_dead(self) -> list[str]:
        """Persist 'interrupted' for runs left 'running' by a dead orchestrator; their ids."""
        dead = [r.id for r in self._select_runs("WHERE status = 'running'", ())
                if r.status == "interrupted"]
        for run_id in dead:
            self._update_run(run_id, "status = 'interrupted', message = COALESCE(message, ?)",
                             ("the orchestrator process died",))
        return dead

    def _text(self, text: str | None) -> str | None:
        return None if text is None else self.redact(text)

    def _update_run(self, run_id: str, assignments: str, params: tuple[Any, ...]) -> None:
        with self._write() as db:
            cur = db.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*params, run_id))
            if cur.rowcount == 0:
                raise RunNotFound(f"no run {run_id!r}")

    def _select_runs(self, where: str, params: tuple[Any, ...]) -> list[RunRecord]:
        sql = f"SELECT * FROM runs {where}"
        return [self._run(row) for row in self._rows(sql, params)]

    def _run(self, row: sqlite3.Row) -> RunRecord:
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
            diffstat=row["diffstat"], summary=row["summary"],
        )

    def list_runs(self, limit: int = 50) -> list[RunRecord]:
        """The newest ``limit`` runs, newest first."""
        return self._select_runs("ORDER BY started_at DESC, rowid DESC LIMIT ?", (limit,))

    def live_runs(self, since: datetime, batch_id: str | None = None) -> list[RunRecord]:
        """Runs in progress and those that ended after `since` (for `runs --watch`), oldest
        first; only one batch's when `batch_id` is given."""
        where = "WHERE (status IN ('running', 'queued') OR ended_at >= ?)"
        params: tuple[Any, ...] = (_iso(since),)
        if batch_id is not None:
            where, params = where + " AND batch_id = ?", (*params, batch_id)
        return self._select_runs(where + " ORDER BY started_at, rowid LIMIT 200", params)

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
                                    row["n"], statuses, float(row["cost"] or 0.0)))
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

    # --- turns and supervisor calls -----------------------------------------------------------

    def begin_turn(self, run_id: str, message: str, *, mark: int | None = None,
                   source: str = "supervisor") -> TurnRecord:
        """Record a message as 'sent' before it is delivered; `mark` is where the agent's hook
        record ended then (what a resume looks after)."""
        with self._write() as db:
            seq = self._next_seq(db, "turns", run_id)
            db.execute("INSERT INTO turns (run_id, seq, message, sent_at, events_mark, source)"
                       " VALUES (?, ?, ?, ?, ?, ?)",
                       (run_id, seq, self.redact(message), _iso(None), mark, source))
        return self._turns("WHERE run_id = ? AND seq = ?", (run_id, seq))[0]

    def mark_delivered(self, run_id: str, seq: int, at: datetime | None = None) -> None:
        self._update_turn(run_id, seq, "delivered_at = ?", (_iso(at),))

    def finish_turn(self, run_id: str, seq: int, *, reply: str, ended_by: str,
                    ended_at: datetime | None = None, recovery: str | None = None,
                    timings: Mapping[str, Any] | None = None, error_kind: str | None = None,
                    output: str | None = None, delivered_at: datetime | None = None) -> None:
        """Record the reply (and when Claude confirmed the message, in the same transaction);
        the first time a turn is done it counts in the run's turns."""
        with self._write() as db:
            was = self._turn_status(db, run_id, seq)
            if delivered_at is not None:
                db.execute("UPDATE turns SET delivered_at = ? WHERE run_id = ? AND seq = ?",
                           (_iso(delivered_at), run_id, seq))
            db.execute("UPDATE turns SET status = 'done', reply = ?, ended_by = ?, ended_at = ?,"
                       " recovery = COALESCE(?, recovery), timings = COALESCE(?, timings),"
                       " error_kind = ?, output = ? WHERE run_id = ? AND seq = ?",
                       (self.redact(reply), ended_by, _iso(ended_at), self._text(recovery),
                        None if timings is None else json.dumps(dict(timings), default=str),
                        error_kind, self._text(output), run_id, seq))
            if was != "done":
                db.execute("UPDATE runs SET turns = turns + 1 WHERE id = ?", (run_id,))

    def add_claude_usage(self, run_id: str, seq: int, tokens: Sequence[Usage],
                         cost_usd: float) -> None:
        """Claude's own tokens and their estimated cost for a turn, added to the run's."""
        if not tokens and not cost_usd:
            return
        total = _Total(sum(t.input for t in tokens), sum(t.output for t in tokens),
                       sum(t.cache_write for t in tokens), sum(t.cache_read for t in tokens))
        with self._write() as db:
            db.execute("UPDATE turns SET claude_input_tokens = claude_input_tokens + ?,"
                       " claude_output_tokens = claude_output_tokens + ?,"
                       " claude_cache_write_tokens = claude_cache_write_tokens + ?,"
                       " claude_cache_read_tokens = claude_cache_read_tokens + ?,"
                       " claude_cost_usd = claude_cost_usd + ? WHERE run_id = ? AND seq = ?",
                       (total.input, total.output, total.cache_write, total.cache_read,
                        cost_usd, run_id, seq))
            db.execute("UPDATE runs SET claude_tokens = claude_tokens + ?,"
                       " claude_cost_usd = claude_cost_usd + ? WHERE id = ?",
                       (total.total, cost_usd, run_id))

    def set_turn_tools(self, run_id: str, seq: int, tools: Sequence[Mapping[str, Any]]) -> None:
        """The tools Claude used in a turn: {tool, detail, failed} each, secrets out."""
        clean = [{**t, "detail": self.redact(str(t.get("detail") or ""))} for t in tools]
        self._update_turn(run_id, seq, "tools = ?", (json.dumps(clean),))

    # --- pauses and checks --------------------------------------------------------------------

    def begin_pause(self, run_id: str, *, turn_seq: int | None, reason: str,
                    until: datetime | None, text: str | None) -> int:
        """A pause starts (a usage limit, an API failure): its row, until it ends."""
        with self._write() as db:
            seq = self._next_seq(db, "pauses", run_id)
            db.execute("INSERT INTO pauses (run_id, seq, turn_seq, reason, started_at, until_at,"
                       " text) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (run_id, seq, turn_seq, reason, _iso(None),
                        None if until is None else _iso(until), self._text(text)))
        return seq

    def end_open_pauses(self, run_id: str) -> None:
        """Close the pauses a stopped run left open (a resume starts its own)."""
        with self._write() as db:
            db.execute("UPDATE pauses SET ended_at = ? WHERE run_id = ? AND ended_at IS NULL",
                       (_iso(None), run_id))

    def end_pause(self, run_id: str, seq: int) -> None:
        with self._write() as db:
            db.execute("UPDATE pauses SET ended_at = ? WHERE run_id = ? AND seq = ?",
                       (_iso(None), run_id, seq))

    def pauses(self, run_id: str) -> list[Pause]:
        rows = self._rows("SELECT * FROM pauses WHERE run_id = ? ORDER BY seq", (run_id,))
        return [Pause(run_id=r["run_id"], seq=r["seq"], turn_seq=r["turn_seq"],
                      reason=r["reason"], started_at=datetime.fromisoformat(r["started_at"]),
                      until_at=_dt(r["until_at"]), ended_at=_dt(r["ended_at"]), text=r["text"])
                for r in rows]

    def record_verification(self, run_id: str, *, command: str, status: int | None,
                            seconds: float, output: str) -> None:
        with self._write() as db:
            seq = self._next_seq(db, "verifications", run_id)
            db.execute("INSERT INTO verifications (run_id, seq, at, command, status, seconds,"
                       " output) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (run_id, seq, _iso(None), self.redact(command), status, seconds,
                        self.redact(output)))

    def verifications(self, run_id: str) -> list[Verification]:
        rows = self._rows("SELECT * FROM verifications WHERE run_id = ? ORDER BY seq",
                          (run_id,))
        return [Verification(run_id=r["run_id"], seq=r["seq"],
                             at=datetime.fromisoformat(r["at"]), command=r["command"],
                             status=r["status"], seconds=r["seconds"], output=r["output"])
                for r in rows]

    def fail_turn(self, run_id: str, seq: int, note: str) -> None:
        self._update_turn(run_id, seq, "status = 'failed', error = ?, ended_at = ?,"
                          " ended_by = COALESCE(ended_by, 'error')",
                          (self.redact(note), _iso(None)))

    def _update_turn(self, run_id: str, seq: int, assignments: str,
                     params: tuple[Any, ...]) -> None:
        with self._write() as db:
            self._turn_status(db, run_id, seq)
            db.execute(f"UPDATE turns SET {assignments} WHERE run_id = ? AND seq = ?",
                       (*params, run_id, seq))

    @staticmethod
    def _turn_status(db: sqlite3.Connection, run_id: str, seq: int) -> str:
        row = db.execute("SELECT status FROM turns WHERE run_id = ? AND seq = ?",
                         (run_id, seq)).fetchone()
        if row is None:
            raise RunLogError(f"run {run_id!r} has no turn {seq}")
        return str(row[0])

    @staticmethod
    def _next_seq(db: sqlite3.Connection, table: str, run_id: str) -> int:
        if db.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
            raise RunNotFound(f"no run {run_id!r}")
        row = db.execute(f"SELECT COALESCE(MAX(seq), 0) + 1 FROM {table} WHERE run_id = ?",
                         (run_id,)).fetchone()
        return int(row[0])

    def _turns(self, where: str, params: tuple[Any, ...]) -> list[TurnRecord]:
        return [
            TurnRecord(
                run_id=r["run_id"], seq=r["seq"], message=r["message"], status=r["status"],
                sent_at=datetime.fromisoformat(r["sent_at"]), delivered_at=_dt(r["delivered_at"]),
                ended_at=_dt(r["ended_at"]), reply=r["reply"], ended_by=r["ended_by"],
                recovery=r["recovery"], error=r["error"],
                timings=None if r["timings"] is None else json.loads(r["timings"]),
                events_mark=r["events_mark"], error_kind=r["error_kind"], output=r["output"],
                source=r["source"],
                claude_tokens=(r["claude_input_tokens"] + r["claude_output_tokens"]
                               + r["claude_cache_write_tokens"] + r["claude_cache_read_tokens"]),
                claude_cost_usd=r["claude_cost_usd"],
                tools=tuple(json.loads(r["tools"])) if r["tools"] else (),
            )
            for r in self._rows(f"SELECT * FROM turns {where}", params)
        ]

    def turns(self, run_id: str) -> list[TurnRecord]:
        return self._turns("WHERE run_id = ? ORDER BY seq", (run_id,))

    def in_flight_turn(self, run_id: str) -> TurnRecord | None:
        """The last turn still 'sent' (its reply never recorded), if any."""
        found = self._turns("WHERE run_id = ? AND status = 'sent' ORDER BY seq DESC LIMIT 1",
                            (run_id,))
        return found[0] if found else None

    def record_supervisor_call(self, run_id: str, *, reply: str | None,
                               prompt_tokens: int | None, completion_tokens: int | None,
                               cost_usd: float | None, attempts: int,
                               message_count: int) -> None:
        """Record one supervisor call and add its usage to the run's totals."""
        with self._write() as db:
            seq = self._next_seq(db, "supervisor_calls", run_id)
            db.execute("INSERT INTO supervisor_calls (run_id, seq, at, message_count,"
                       " prompt_tokens, completion_tokens, cost_usd, reply, attempts)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (run_id, seq, _iso(None), message_count, prompt_tokens,
                        completion_tokens, cost_usd, self._text(reply), attempts))
            db.execute("UPDATE runs SET prompt_tokens = prompt_tokens + ?, completion_tokens ="
                       " completion_tokens + ?, cost_usd = cost_usd + ? WHERE id = ?",
                       (prompt_tokens or 0, completion_tokens or 0, cost_usd or 0.0, run_id))

    def supervisor_calls(self, run_id: str) -> list[SupervisorCall]:
        rows = self._rows("SELECT * FROM supervisor_calls WHERE run_id = ? ORDER BY seq",
                          (run_id,))
        return [SupervisorCall(run_id=r["run_id"], seq=r["seq"],
                               at=datetime.fromisoformat(r["at"]),
                               message_count=r["message_count"], prompt_tokens=r["prompt_tokens"],
                               completion_tokens=r["completion_tokens"], cost_usd=r["cost_usd"],
                               reply=r["reply"], attempts=r["attempts"])
                for r in rows]
