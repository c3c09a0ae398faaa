"""The run log in PostgreSQL: one database that every machine's runs write to, so `runs
--watch`, `serve` and `resume` see every run wherever it works.

psycopg 3 with a small pool (a run writes from its main thread and from the thread that reads
Claude's tokens). Every write is one transaction, retried whole while the server cannot be
reached (a restart, a failover): the run waits with its data in memory, as it waits for a busy
SQLite file, and Claude's work goes on meanwhile. The SQL is the records' own (`?` marks become
psycopg's `%s`); the URL's password never shows (`where`).
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from claude_orchestrator.runlog.log import RunLog, default_runlog_path
from claude_orchestrator.runlog.rows import Row, RunLogError
from claude_orchestrator.runlog.store import Cursor, Db, T
from claude_orchestrator.trust import shown_runlog

_SCHEMA_LOCK = 0x636F7267  # the advisory lock held while one process migrates
# Connection failures that waiting will not mend: said at once, not retried.
_FOR_GOOD = re.compile(r"authentication failed|does not exist|no password supplied|"
                       r"could not translate host name|permission denied|role .* is not",
                       re.IGNORECASE)
_TYPES = ((re.compile(r"\bINTEGER\b"), "BIGINT"), (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"))


@functools.lru_cache(maxsize=512)
def to_psycopg(sql: str) -> str:
    """The records' SQL in psycopg's terms: `?` outside quotes becomes `%s`, a `%` becomes
    `%%`; in a CREATE or ALTER, SQLite's INTEGER and REAL become BIGINT and DOUBLE PRECISION.

    >>> to_psycopg("SELECT '?', x FROM t WHERE a LIKE ? AND b = ?")
    "SELECT '?', x FROM t WHERE a LIKE %s AND b = %s"
    >>> to_psycopg("ALTER TABLE runs ADD COLUMN cost REAL NOT NULL DEFAULT 0")
    'ALTER TABLE runs ADD COLUMN cost DOUBLE PRECISION NOT NULL DEFAULT 0'
    """
    parts = sql.split("'")
    for i in range(0, len(parts), 2):  # outside quotes
        parts[i] = parts[i].replace("%", "%%").replace("?", "%s")
    out = "'".join(parts)
    if out.lstrip().upper().startswith(("CREATE TABLE", "ALTER TABLE")):
        for pattern, name in _TYPES:
            out = pattern.sub(name, out)
    return out


class PgRow:
    """A row by column name or by position, like sqlite3.Row."""

    __slots__ = ("_names", "_values")

    def __init__(self, values: Sequence[Any], names: dict[str, int]) -> None:
        self._values = values
        self._names = names

    def __getitem__(self, key: int | str) -> Any:
        return self._values[self._names[key] if isinstance(key, str) else key]

    def __len__(self) -> int:
        return len(self._values)


def _pg_rows(cursor: Any) -> Callable[[Sequence[Any]], PgRow]:
    names = {c.name: i for i, c in enumerate(cursor.description or ())}
    return lambda values: PgRow(values, names)


class PgDb:
    """A transaction's connection, as the records' SQL uses it."""

    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self.conn.execute(to_psycopg(sql), tuple(params))


class PostgresRunLog(RunLog):
    """The run log in the database `url` names (``postgresql://USER@HOST:PORT/DB``; a
    password in it works, but is better in ``~/.pgpass`` or ``PGPASSWORD``)."""

    dialect = "postgresql"
    integrity_errors = (psycopg.IntegrityError,)

    def __init__(self, url: str, *, redact: Callable[[str], str] | None = None,
                 readonly: bool = False, busy_limit: float = 600.0,
                 on_busy: Callable[[str], None] | None = None, connect_limit: float = 30.0,
                 create_folder: bool = True, busy_timeout: float = 1.0,
                 pool_size: int = 4) -> None:
        self.location = url
        self.where = shown_runlog(url)
        self.folder = default_runlog_path().parent  # worktrees/ and batches/ on this machine
        self._setup(redact, readonly, busy_limit, on_busy)
        self._told = False
        self._connect_first(connect_limit)
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url, min_size=1, max_size=max(1, pool_size), num_workers=1, timeout=5.0,
            name="claude-orchestrator-runlog", open=False,
            kwargs={"autocommit": True, "row_factory": _pg_rows, "connect_timeout": 10,
                    "application_name": "claude-orchestrator"})
        self._pool.open(wait=False)
        try:
            self._migrate()
        except BaseException:
            self._pool.close()
            raise

    def _connect_first(self, limit: float) -> None:
        """Reach the server once before anything else, so a wrong URL is one line at once and
        a server that is restarting is waited for (up to `limit` seconds)."""
        deadline = time.monotonic() + limit
        pause = 0.2
        while True:
            try:
                psycopg.connect(self.location, connect_timeout=10).close()
                return
            except psycopg.OperationalError as e:
                if _FOR_GOOD.search(str(e)) or time.monotonic() >= deadline:
                    raise RunLogError(f"cannot use the run log {self.where}: "
                                      f"{self._reason(e)}") from None
                self._tell(e)
                time.sleep(pause)
                pause = min(pause * 2, 2.0)

    def _reason(self, e: BaseException) -> str:
        """psycopg's message, its first line, with no password in it."""
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        text = lines[-1] if lines and len(lines[0]) < 20 else (lines[0] if lines else repr(e))
        password = psycopg.conninfo.conninfo_to_dict(self.location).get("password")
        if password:
            text = text.replace(str(password), "[REDACTED]")
        return self.redact(text)

    def _tell(self, e: BaseException) -> None:
        if not self._told and self.on_busy is not None:
            self._told = True
            self.on_busy(f"the run log {self.where} cannot be reached ({self._reason(e)}); "
                         "retrying (nothing is lost meanwhile)")

    def _retry(self, attempt: Callable[[], T]) -> T:
        """`attempt` again and again while the server cannot be reached, up to `busy_limit`
        seconds (a connection the restart broke is dropped by the pool and replaced)."""
        deadline = time.monotonic() + self.busy_limit
        pause = 0.1
        while True:
            try:
                result = attempt()
                self._told = False
                return result
            except psycopg.OperationalError as e:  # includes the pool's timeout
                if time.monotonic() >= deadline:
                    raise RunLogError(f"the run log {self.where} stayed unreachable for "
                                      f"{self.busy_limit:g}s: {self._reason(e)}") from None
                self._tell(e)
                time.sleep(pause)
                pause = min(pause * 2, 2.0)

    def _transact(self, body: Callable[[Db], T]) -> T:
        if self.readonly:
            raise RunLogError(f"the run log {self.where} was opened for reading only")

        def attempt() -> T:
            with self._pool.connection() as conn, conn.transaction():
                result = body(PgDb(conn))
                # What readers look at to learn the log changed (data_version).
                conn.execute("SELECT nextval('runlog_changes')")
                return result

        return self._retry(attempt)

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        def attempt() -> list[Row]:
            with self._pool.connection() as conn:
                return list(conn.execute(to_psycopg(sql), params).fetchall())

        try:
            return self._retry(attempt)
        except psycopg.Error as e:
            raise RunLogError(f"the run log {self.where}: {self._reason(e)}") from None

    def _applied(self) -> set[str] | None:
        if self._rows("SELECT to_regclass('_migrations')")[0][0] is None:
            return None
        return {r[0] for r in self._rows("SELECT name FROM _migrations")}

    def _lock_schema(self, db: Db) -> None:
        db.execute(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")

    def _upgrade(self) -> None:
        try:
            PostgresRunLog(self.location, redact=self.redact).close()
        except RunLogError as e:
            raise RunLogError(f"the run log {self.where} was written by an older "
                              "claude-orchestrator and cannot be upgraded by this user; run "
                              f"this release once as a user who may ({e})") from None

    def data_version(self) -> int:
        return int(self._rows("SELECT last_value FROM runlog_changes")[0][0])

    def close(self) -> None:
        self._pool.close()

