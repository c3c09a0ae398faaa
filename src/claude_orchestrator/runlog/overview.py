"""Reads of many runs at once, for the web page and the HTML export: a night has hundreds of
runs, and one query per run (their pauses, their last check, their turns' times) would make the
page slow. Each function here is one query over the runs asked for, or over a time window.

`data_version` is how a reader learns, for the price of one statement, that another process
has written to the log since it last looked (SQLite's `PRAGMA data_version`; in PostgreSQL a
sequence every write moves).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from claude_orchestrator.runlog.log import Pause, RunLog, RunRecord, Verification
from claude_orchestrator.runlog.turns import pause_of, verification_of


@dataclass(frozen=True)
class Spend:
    """Money spent in a minute: the supervisor's calls, and Claude's estimate for turns."""

    at: datetime
    run_id: str  # '' when summed over runs
    supervisor_usd: float
    claude_usd: float


@dataclass(frozen=True)
class PersonTurn:
    """A message Claude got from someone at its pane (a person, or nobody we know)."""

    run_id: str
    seq: int
    at: datetime
    source: str
    message: str


def data_version(log: RunLog) -> int:
    """A number that changes whenever another connection commits to the log."""
    return log.data_version()


def _marks(ids: Sequence[str]) -> str:
    return ", ".join("?" * len(ids))


def _chunks(ids: Sequence[str], size: int = 500) -> list[Sequence[str]]:
    """SQLite limits the variables of one statement: ask for many ids in parts."""
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def run_signatures(log: RunLog, since: datetime,
                   limit: int = 5000) -> list[tuple[str, tuple[object, ...]]]:
    """The runs `runs_since` returns, each with a value that changes whenever its row does in
    a way a page shows (a reader keeps the rest from the last time)."""
    rows = log._rows(
        "SELECT id, status, activity, activity_at, turns, ended_at, cost_usd, claude_cost_usd, "
        "files_changed, next_step, message, branch, batch_id, pid, host, job_id FROM runs "
        "WHERE started_at >= ? OR status IN ('running', 'queued') "
        "ORDER BY started_at DESC, position DESC LIMIT ?", (_iso(since), limit))
    return [(r[0], tuple(r[i] for i in range(1, 16))) for r in rows]


def runs_by_id(log: RunLog, run_ids: Sequence[str]) -> dict[str, RunRecord]:
    """These runs' records."""
    out: dict[str, RunRecord] = {}
    for part in _chunks(run_ids):
        for run in log._select_runs(f"WHERE id IN ({_marks(part)})", tuple(part)):
            out[run.id] = run
    return out


def last_checks(log: RunLog, run_ids: Sequence[str]) -> dict[str, Verification]:
    """Each run's last `--verify` result."""
    out: dict[str, Verification] = {}
    for part in _chunks(run_ids):
        rows = log._rows(
            f"SELECT * FROM verifications v WHERE run_id IN ({_marks(part)}) AND seq = "
            "(SELECT MAX(seq) FROM verifications WHERE run_id = v.run_id)", tuple(part))
        for r in rows:
            out[r["run_id"]] = verification_of(r)
    return out


def pauses_of(log: RunLog, run_ids: Sequence[str]) -> dict[str, list[Pause]]:
    """Every pause of these runs, in order."""
    out: dict[str, list[Pause]] = {}
    for part in _chunks(run_ids):
        rows = log._rows(f"SELECT * FROM pauses WHERE run_id IN ({_marks(part)}) "
                         "ORDER BY run_id, seq", tuple(part))
        for r in rows:
            out.setdefault(r["run_id"], []).append(pause_of(r))
    return out


def spend_since(log: RunLog, since: datetime) -> list[Spend]:
    """What was spent since `since`, minute by minute, oldest first: the supervisor's calls
    and Claude's estimate for each turn (at its end), summed per minute."""
    rows = log._rows(
        "SELECT substr(t, 1, 16) AS minute, SUM(s), SUM(c) FROM ("
        "SELECT at AS t, COALESCE(cost_usd, 0) AS s, 0 AS c FROM supervisor_calls "
        "WHERE at >= ? AND COALESCE(cost_usd, 0) > 0 "
        "UNION ALL SELECT COALESCE(ended_at, sent_at), 0, claude_cost_usd FROM turns "
        "WHERE sent_at >= ? AND claude_cost_usd > 0) AS spent GROUP BY minute ORDER BY minute",
        (_iso(since), _iso(since)))
    return [Spend(datetime.fromisoformat(r[0] + ":00+00:00"), "", float(r[1]), float(r[2]))
            for r in rows]


def turns_per_hour(log: RunLog, since: datetime) -> dict[str, dict[datetime, int]]:
    """How many turns each run began in each hour (UTC, on the hour) since `since`."""
    out: dict[str, dict[datetime, int]] = {}
    for r in log._rows("SELECT run_id, substr(sent_at, 1, 13), COUNT(*) FROM turns "
                       "WHERE sent_at >= ? GROUP BY 1, 2", (_iso(since),)):
        hour = datetime.fromisoformat(r[1] + ":00:00+00:00")
        out.setdefault(r[0], {})[hour] = int(r[2])
    return out


def person_turns(log: RunLog, run_ids: Sequence[str]) -> dict[str, list[PersonTurn]]:
    """Messages Claude got at its pane from a person, or from nobody we know, per run."""
    out: dict[str, list[PersonTurn]] = {}
    for part in _chunks(run_ids):
        rows = log._rows(
            f"SELECT run_id, seq, sent_at, source, message FROM turns WHERE run_id IN "
            f"({_marks(part)}) AND source IN ('person', 'unattributed') ORDER BY run_id, seq",
            tuple(part))
        for r in rows:
            out.setdefault(r[0], []).append(PersonTurn(r[0], r[1],
                                                       datetime.fromisoformat(r[2]), r[3],
                                                       r[4]))
    return out


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="microseconds")
