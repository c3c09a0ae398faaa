"""The run log's schema, as a list of small named migrations applied once each, in order, and
recorded in the `_migrations` table. A new column or table is a new function at the end.

The same list builds a SQLite file and a PostgreSQL database. Each function gets the
transaction's `Db`, whose `execute` takes the SQL both accept (PostgreSQL's connection reads
`INTEGER` as `BIGINT` and `REAL` as `DOUBLE PRECISION` in a `CREATE` or `ALTER`, so counts and
costs keep SQLite's range and precision); a step only one backend needs asks `db.dialect`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from claude_orchestrator.runlog.store import Db


def m001_create_runs(db: Db) -> None:
    db.execute(
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY, mode TEXT NOT NULL, task TEXT NOT NULL, workdir TEXT NOT NULL,
            model TEXT, tmux_session TEXT, tmux_socket TEXT, agent_session_id TEXT,
            settings TEXT NOT NULL DEFAULT '{}', status TEXT NOT NULL DEFAULT 'running',
            exit_code INTEGER, message TEXT, started_at TEXT NOT NULL, ended_at TEXT,
            pid INTEGER NOT NULL, host TEXT NOT NULL,
            turns INTEGER NOT NULL DEFAULT 0, prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0, cost_usd REAL NOT NULL DEFAULT 0)"""
    )
    db.execute("CREATE INDEX runs_started_at ON runs (started_at)")


def m002_create_turns(db: Db) -> None:
    db.execute(
        """CREATE TABLE turns (
            run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE, seq INTEGER NOT NULL,
            message TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'sent', sent_at TEXT NOT NULL,
            delivered_at TEXT, ended_at TEXT, reply TEXT, ended_by TEXT, recovery TEXT,
            error TEXT, timings TEXT, PRIMARY KEY (run_id, seq))"""
    )


def m003_create_supervisor_calls(db: Db) -> None:
    db.execute(
        """CREATE TABLE supervisor_calls (
            run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE, seq INTEGER NOT NULL,
            at TEXT NOT NULL, message_count INTEGER NOT NULL, prompt_tokens INTEGER,
            completion_tokens INTEGER, cost_usd REAL, reply TEXT, attempts INTEGER NOT NULL,
            PRIMARY KEY (run_id, seq))"""
    )


def m004_turn_events_mark(db: Db) -> None:
    """Where the hook record ended when a turn began (a resume reads only what came after),
    and what a turn's end said beyond its reply: StopFailure's error kind, a `!cmd`'s output."""
    db.execute("ALTER TABLE turns ADD COLUMN events_mark INTEGER")
    db.execute("ALTER TABLE turns ADD COLUMN error_kind TEXT")
    db.execute("ALTER TABLE turns ADD COLUMN output TEXT")


def m005_unattended(db: Db) -> None:
    """What unattended running records: Claude's own tokens and cost per turn and per run
    (an estimate), who sent a turn's message (`supervisor`, `person`, `chat`), the pauses for
    usage limits and API failures, and the checks run before a task counts as complete."""
    for column in ("claude_input_tokens", "claude_output_tokens", "claude_cache_write_tokens",
                   "claude_cache_read_tokens"):
        db.execute(f"ALTER TABLE turns ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE turns ADD COLUMN claude_cost_usd REAL NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE turns ADD COLUMN source TEXT NOT NULL DEFAULT 'supervisor'")
    db.execute("ALTER TABLE runs ADD COLUMN claude_tokens INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE runs ADD COLUMN claude_cost_usd REAL NOT NULL DEFAULT 0")
    db.execute(
        """CREATE TABLE pauses (
            run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE, seq INTEGER NOT NULL,
            turn_seq INTEGER, reason TEXT NOT NULL, started_at TEXT NOT NULL,
            until_at TEXT, ended_at TEXT, text TEXT, PRIMARY KEY (run_id, seq))"""
    )
    db.execute(
        """CREATE TABLE verifications (
            run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE, seq INTEGER NOT NULL,
            at TEXT NOT NULL, command TEXT NOT NULL, status INTEGER, seconds REAL NOT NULL,
            output TEXT, PRIMARY KEY (run_id, seq))"""
    )


def m006_batches_and_activity(db: Db) -> None:
    """What `runs --watch` and `batch` need: what a run is doing now (working, paused for a
    limit or a person, verifying...) and since when, the batch it belongs to, and the git branch
    its work is on."""
    db.execute("ALTER TABLE runs ADD COLUMN activity TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN activity_at TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN batch_id TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN branch TEXT")
    db.execute("CREATE INDEX runs_batch ON runs (batch_id)")


def m007_next_step(db: Db) -> None:
    """The one command that continues a run that stopped short (`resume ID --max-cost 10`,
    answer a question in tmux first...), as the run's last line said it."""
    db.execute("ALTER TABLE runs ADD COLUMN next_step TEXT")


def m008_turn_tools(db: Db) -> None:
    """The tools Claude used in a turn (the commands it ran, the files it wrote), read from its
    transcript: a JSON list of {tool, detail, failed}."""
    db.execute("ALTER TABLE turns ADD COLUMN tools TEXT")


def m009_git(db: Db) -> None:
    """Where a run's work is in git: the person's repository, the commit the run started from,
    whether it has a worktree of its own (a batch's run; 0 once `clean` removed it), and what
    its branch changed when it ended (files, and git's --stat text); and the supervisor's final
    summary of a complete run."""
    db.execute("ALTER TABLE runs ADD COLUMN repo TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN base_commit TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN worktree INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE runs ADD COLUMN files_changed INTEGER")
    db.execute("ALTER TABLE runs ADD COLUMN diffstat TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN summary TEXT")


def m010_scale(db: Db) -> None:
    """What many machines need: the order of a batch's tasks (SQLite's `rowid` was it; a
    PostgreSQL table has none), the batch process that claimed a run to start it (a
    compare-and-set: two batches resuming at once never both start it), the job that runs it
    (a Ray submission id), and, in PostgreSQL, a counter every write moves (what SQLite's
    `PRAGMA data_version` tells a reader: that the log changed)."""
    db.execute("ALTER TABLE runs ADD COLUMN position INTEGER")
    db.execute("ALTER TABLE runs ADD COLUMN claimed_by TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN job_id TEXT")
    if db.dialect == "sqlite":
        db.execute("UPDATE runs SET position = rowid")
    else:
        db.execute("CREATE SEQUENCE IF NOT EXISTS runlog_changes")
    db.execute("CREATE INDEX runs_position ON runs (position)")


def m011_git_remote(db: Db) -> None:
    """The remote a run clones from and pushes its branch to when it works on a node that
    has no copy of the person's repository (`batch --git-remote`)."""
    db.execute("ALTER TABLE runs ADD COLUMN git_remote TEXT")


MIGRATIONS: list[Callable[[Db], None]] = [
    m001_create_runs,
    m002_create_turns,
    m003_create_supervisor_calls,
    m004_turn_events_mark,
    m005_unattended,
    m006_batches_and_activity,
    m007_next_step,
    m008_turn_tools,
    m009_git,
    m010_scale,
    m011_git_remote,
]
