"""What the run log holds, as values: a run, a turn, a pause, a check, a supervisor call, a
batch's summary; the errors a run log raises; and the small conversions every backend shares
(times as ISO-8601 UTC text, settings without secrets, run ids)."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from claude_orchestrator.errors import UsageError

MODES = ("autonomous", "chat")
RUN_STATUSES = ("running", "complete", "interrupted", "failed", "budget", "refused", "quit",
                "stuck", "queued")
_SECRET_KEY = re.compile(r"key|token(?!s)|secret|passw|credential|auth", re.IGNORECASE)


class Row(Protocol):
    """A row as both backends return it: by column name or by position."""

    def __getitem__(self, key: int | str, /) -> Any: ...


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
    job_id: str | None = None  # the Ray job that runs it (its submission id), if any
    claimed_by: str | None = None  # the batch process that took it to start it (host:pid:..)
    git_remote: str | None = None  # cloned from and pushed to there (batch --git-remote)

    @property
    def attach(self) -> str:
        """The command that shows its Claude, on the machine it runs on (`host`)."""
        return f"tmux -L {self.socket} attach -t {self.session}" if self.session else ""

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


def new_run_id() -> str:
    """`20261201-020044-ab8d`: sortable by time, unique enough to type a prefix of."""
    return f"{_now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
