"""The run log in one SQLite file (WAL): every write one immediate transaction, waited out with
retries while another process holds the lock. The file is the user's alone (0600, in a folder
closed to other users' writes: worktrees/ and batches/ are made beside it)."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import stat
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from claude_orchestrator.runlog.log import RunLog
from claude_orchestrator.runlog.rows import Row, RunLogError, RunLogFull, RunLogMissing
from claude_orchestrator.runlog.store import Cursor, Db, T
from claude_orchestrator.runtime.state import UnsafeState, check_parents, make_dirs


class SQLiteDb:
    """A transaction's connection, as the records' SQL uses it."""

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self.conn.execute(sql, params)


class SQLiteRunLog(RunLog):
    """The run log at ``path``; one writer per process is enough (calls are serialised).

    Opened for reading only (``readonly``: `runs`, `show`), it never writes, so a read-only file
    still lists. A log that is busy (another program holds its write lock) is waited for, with
    retries up to ``busy_limit`` seconds, while the data to write stays in memory; ``on_busy``
    hears once that it waits. A corrupt log, one written by a newer version, a read-only one
    opened for writing, or a missing folder it may not create is a one-line ``RunLogError``.
    """

    dialect = "sqlite"
    integrity_errors = (sqlite3.IntegrityError,)

    def __init__(self, path: Path | str, *, busy_timeout: float = 1.0,
                 redact: Callable[[str], str] | None = None, readonly: bool = False,
                 create_folder: bool = True, busy_limit: float = 600.0,
                 on_busy: Callable[[str], None] | None = None) -> None:
        self.path = Path(path).expanduser()
        self.where = self.location = str(self.path)
        self.folder = self.path.parent
        self._setup(redact, readonly, busy_limit, on_busy)
        self._lock = threading.RLock()
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

    def _applied(self) -> set[str] | None:
        tables = {r[0] for r in self._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "_migrations" not in tables:
            return None
        return {r[0] for r in self._db.execute("SELECT name FROM _migrations")}

    def _upgrade(self) -> None:
        try:
            SQLiteRunLog(self.path).close()
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

    def _transact(self, body: Callable[[Db], T]) -> T:
        """One immediate transaction, committed when `body` returns (rolled back on error)."""
        if self.readonly:
            raise RunLogError(f"the run log {self.path} was opened for reading only")
        with self._lock:
            self._retrying("BEGIN IMMEDIATE")
            try:
                result = body(SQLiteDb(self._db))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            try:
                self._retrying("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise
            return result

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        with self._lock:
            try:
                rows: list[Row] = self._db.execute(sql, params).fetchall()
                return rows
            except sqlite3.DatabaseError as e:
                raise self._unusable(e) from None

    def data_version(self) -> int:
        rows = self._rows("PRAGMA data_version")
        return int(rows[0][0]) if rows else 0

    def close(self) -> None:
        with self._lock:
            self._db.close()
