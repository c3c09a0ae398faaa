"""The run log: schema migrations, file safety, run and turn lifecycle, lookup, formatting."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator.agents.prices import Tokens
from claude_orchestrator.runlog import (
    RunLog,
    RunLogError,
    RunNotFound,
    default_runlog_path,
)
from claude_orchestrator.runlog import log as runlog
from claude_orchestrator.runlog.format import format_run_detail

SRC = str(Path(runlog.__file__).resolve().parents[2])


def _start(log: RunLog, task: str = "Fix the tests", **kw: Any) -> runlog.RunRecord:
    args: dict[str, Any] = dict(mode="autonomous", task=task, workdir="/w", model="m/x",
                                session="s", socket="sock", settings={})
    args.update(kw)
    return log.start_run(**args)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def log(tmp_path: Path) -> Any:
    with RunLog(tmp_path / "data" / "runs.sqlite3") as opened:
        yield opened


def test_default_path_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLAUDE_ORCHESTRATOR_DATA_DIR", str(tmp_path / "d"))
    assert default_runlog_path() == tmp_path / "d" / "runs.sqlite3"
    monkeypatch.delenv("CLAUDE_ORCHESTRATOR_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "x"))
    assert default_runlog_path() == tmp_path / "x" / "claude-orchestrator" / "runs.sqlite3"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_runlog_path().parent.name == "claude-orchestrator"
    assert str(default_runlog_path()).startswith(str(tmp_path))


def test_migrations_applied_once_and_idempotent(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "runs.sqlite3"
    RunLog(path).close()
    first = sqlite3.connect(path).execute("SELECT * FROM _migrations").fetchall()
    assert [name for name, _ in first] == [m.__name__ for m in runlog.MIGRATIONS]
    with RunLog(path) as log:
        _start(log)
    assert sqlite3.connect(path).execute("SELECT * FROM _migrations").fetchall() == first

    calls: list[int] = []

    def m004_add_note(db: sqlite3.Connection) -> None:
        calls.append(1)
        db.execute("ALTER TABLE runs ADD COLUMN note TEXT")

    monkeypatch.setattr(runlog, "MIGRATIONS", [*runlog.MIGRATIONS, m004_add_note])
    RunLog(path).close()
    RunLog(path).close()
    assert calls == [1]
    with RunLog(path) as log:
        assert len(log.list_runs()) == 1


def test_a_later_column_on_every_table_leaves_every_record_writable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every INSERT names its columns and every reader picks its columns by name: the next
    `ADD COLUMN` migration (here one on every table, with a NOT NULL default) breaks no write
    and no read of any kind of record."""
    path = tmp_path / "runs.sqlite3"
    RunLog(path).close()  # a log this release made

    def m099_a_column_everywhere(db: sqlite3.Connection) -> None:
        for table in ("_migrations", "runs", "turns", "supervisor_calls", "pauses",
                      "verifications"):
            db.execute(f"ALTER TABLE {table} ADD COLUMN later TEXT NOT NULL DEFAULT 'x'")

    monkeypatch.setattr(runlog, "MIGRATIONS", [*runlog.MIGRATIONS, m099_a_column_everywhere])
    until = datetime(2030, 1, 1, tzinfo=UTC)
    with RunLog(path) as log:
        run = _start(log)
        queued = _start(log, task="a batch's", queued=True, run_id=runlog.new_run_id())
        log.set_agent_session(run.id, "sid-1")
        log.set_activity(run.id, "working")
        log.set_batch(run.id, "b-1", "orchestrator/" + run.id)
        log.update_settings(run.id, {"max_cost": 5})
        log.record_supervisor_call(run.id, reply="do it", prompt_tokens=10, completion_tokens=2,
                                   cost_usd=0.5, attempts=1, message_count=2)
        turn = log.begin_turn(run.id, "do it", mark=40, source="chat")
        log.mark_delivered(run.id, turn.seq, until)
        log.finish_turn(run.id, turn.seq, reply="done", ended_by="hook", ended_at=until,
                        recovery="none", timings={"enters": 1}, error_kind=None, output="out")
        log.add_claude_usage(run.id, turn.seq, [Tokens("claude-x", 1, 2, 3, 4)], 0.25)
        failed = log.begin_turn(run.id, "again")
        log.fail_turn(run.id, failed.seq, "pane died")
        pause = log.begin_pause(run.id, turn_seq=turn.seq, reason="limit", until=until,
                                text="limit reached")
        log.end_pause(run.id, pause)
        log.begin_pause(run.id, turn_seq=None, reason="person", until=None, text=None)
        log.end_open_pauses(run.id)
        log.record_verification(run.id, command="pytest", status=0, seconds=1.5, output="ok")
        log.finish_run(run.id, status="complete", exit_code=0, message="all good")
        log.resume_run(queued.id)

        got = log.get_run(run.id)
        assert (got.status, got.agent_session_id, got.activity, got.batch_id) == (
            "complete", "sid-1", "working", "b-1")
        assert (got.turns, got.prompt_tokens, got.claude_tokens) == (1, 10, 10)
        assert got.settings == {"max_cost": 5} and got.total_cost_usd == pytest.approx(0.75)
        done, gone = log.turns(run.id)
        assert (done.reply, done.output, done.source, done.events_mark) == ("done", "out",
                                                                            "chat", 40)
        assert done.delivered_at == until and done.claude_tokens == 10
        assert (gone.status, gone.error) == ("failed", "pane died")
        assert [(p.reason, p.until_at, p.ended_at is not None) for p in log.pauses(run.id)] == [
            ("limit", until, True), ("person", None, True)]
        assert [(v.command, v.status, v.output) for v in log.verifications(run.id)] == [
            ("pytest", 0, "ok")]
        assert [(c.reply, c.cost_usd) for c in log.supervisor_calls(run.id)] == [("do it", 0.5)]
        assert log.get_run(queued.id).status == "running"
        assert {r.id for r in log.list_runs()} == {run.id, queued.id}
        assert log.latest_turns([run.id]) == {run.id: (2, "failed")}
    applied = sqlite3.connect(path).execute("SELECT name, later FROM _migrations").fetchall()
    assert applied[-1] == ("m099_a_column_everywhere", "x")


def test_file_mode_dir_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "new" / "runs.sqlite3"
    with RunLog(path) as log:
        _start(log)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        wal = path.with_name(path.name + "-wal")
        assert wal.exists()
        assert stat.S_IMODE(wal.stat().st_mode) & 0o077 == 0
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_existing_file_with_wide_mode_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    path.touch(mode=0o644)
    path.chmod(0o644)
    RunLog(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_run_and_turn_lifecycle_with_totals(log: RunLog) -> None:
    run = _start(log)
    assert run.status == "running" and run.turns == 0 and run.ended_at is None
    assert len(run.id) == len("20261125-174512-3fa9")
    log.set_agent_session(run.id, "abc-123")

    log.record_supervisor_call(run.id, reply="do X", prompt_tokens=100, completion_tokens=10,
                               cost_usd=0.01, attempts=2, message_count=2)
    turn = log.begin_turn(run.id, "do X\nand Y")
    assert (turn.seq, turn.status, turn.delivered_at) == (1, "sent", None)
    assert log.in_flight_turn(run.id) == turn
    sent = datetime(2030, 1, 1, tzinfo=UTC)
    log.mark_delivered(run.id, 1, sent)
    log.finish_turn(run.id, 1, reply="done X", ended_by="hook", ended_at=sent + timedelta(2),
                    recovery="restarted once", timings={"confirmed": 0.1, "ended": 2.5})
    log.finish_turn(run.id, 1, reply="done X", ended_by="hook")  # twice counts once
    assert log.in_flight_turn(run.id) is None

    log.record_supervisor_call(run.id, reply="TASK_COMPLETE", prompt_tokens=50,
                               completion_tokens=5, cost_usd=None, attempts=1, message_count=4)
    t2 = log.begin_turn(run.id, "second")
    log.fail_turn(run.id, t2.seq, "pane died")
    log.finish_run(run.id, status="complete", exit_code=0, message="all good")

    done = log.get_run(run.id)
    assert (done.status, done.exit_code, done.message) == ("complete", 0, "all good")
    assert done.agent_session_id == "abc-123" and done.ended_at is not None
    assert (done.turns, done.prompt_tokens, done.completion_tokens) == (1, 150, 15)
    assert done.cost_usd == pytest.approx(0.01)
    first, second = log.turns(run.id)
    assert first.status == "done" and first.reply == "done X" and first.message == "do X\nand Y"
    assert first.delivered_at == sent and first.recovery == "restarted once"
    assert first.timings == {"confirmed": 0.1, "ended": 2.5}
    assert (second.status, second.error, second.ended_by) == ("failed", "pane died", "error")
    calls = log.supervisor_calls(run.id)
    assert [(c.seq, c.attempts, c.message_count, c.cost_usd) for c in calls] == [
        (1, 2, 2, 0.01), (2, 1, 4, None)]


def test_bad_values_and_unknown_ids(log: RunLog) -> None:
    run = _start(log)
    with pytest.raises(ValueError):
        _start(log, mode="batch")
    with pytest.raises(ValueError):
        log.finish_run(run.id, status="great", exit_code=0, message=None)
    with pytest.raises(RunNotFound):
        log.begin_turn("nope", "x")
    with pytest.raises(RunNotFound):
        log.set_agent_session("nope", "x")
    with pytest.raises(RunLogError):
        log.finish_turn(run.id, 9, reply="x", ended_by="hook")


def test_in_flight_turn_is_the_last_sent(log: RunLog) -> None:
    run = _start(log)
    for text in ("a", "b", "c"):
        log.begin_turn(run.id, text)
    log.finish_turn(run.id, 3, reply="r", ended_by="screen")
    in_flight = log.in_flight_turn(run.id)
    assert in_flight is not None and in_flight.message == "b"


def test_prefix_lookup_and_ambiguity(log: RunLog) -> None:
    a, b = _start(log), _start(log)
    assert log.get_run(a.id).id == a.id
    if a.id[:-1] != b.id[:-1]:  # (two runs in one second can share all but the last digit)
        assert log.get_run(b.id[:-1]).id == b.id
    else:
        with pytest.raises(RunNotFound, match="ambiguous"):
            log.get_run(b.id[:-1])
    if a.id[-4:] != b.id[-4:]:  # a unique suffix finds its run
        assert log.get_run(b.id[-4:]).id == b.id
    common = a.id[:8]  # same day
    with pytest.raises(RunNotFound, match="ambiguous") as err:
        log.get_run(common)
    assert "\n" not in str(err.value)
    with pytest.raises(RunNotFound, match="no run matches"):
        log.get_run("1999")
    with pytest.raises(RunNotFound):
        log.get_run("")
    with pytest.raises(RunNotFound):
        log.get_run("%")


def test_dead_pid_shows_as_interrupted(log: RunLog) -> None:
    run = _start(log)
    alive = _start(log)
    finished = _start(log)
    log.finish_run(finished.id, status="quit", exit_code=0, message=None)
    pid = _dead_pid()
    with sqlite3.connect(log.path) as db:
        db.execute("UPDATE runs SET pid = ? WHERE id IN (?, ?)", (pid, run.id, finished.id))
    assert log.get_run(run.id).status == "interrupted"
    assert log.get_run(alive.id).status == "running"
    assert log.get_run(finished.id).status == "quit"
    statuses = {r.id: r.status for r in log.list_runs()}
    assert statuses[run.id] == "interrupted"
    raw = sqlite3.connect(log.path).execute("SELECT status FROM runs WHERE id = ?", (run.id,))
    assert raw.fetchone()[0] == "running"  # reads do not rewrite

    assert log.mark_interrupted_if_dead() == [run.id]
    raw = sqlite3.connect(log.path).execute("SELECT status FROM runs WHERE id = ?", (run.id,))
    assert raw.fetchone()[0] == "interrupted"
    resumed = log.resume_run(run.id)
    assert resumed.status == "running" and resumed.ended_at is None


def test_secret_like_settings_dropped(log: RunLog) -> None:
    settings = {"OPENROUTER_API_KEY": "sk-or-v1-abc", "auth_token": "t", "client_secret": "s",
                "Password": "p", "max_tokens": 4096, "model": "m", "base": "sk-or-raw",
                "nested": {"apikey": "k", "keep": 1}, "workdir": Path("/w")}
    run = _start(log, settings=settings)
    assert run.settings == {"max_tokens": 4096, "model": "m", "nested": {"keep": 1},
                            "workdir": "/w"}
    raw = log.path.read_bytes() + log.path.with_name("runs.sqlite3-wal").read_bytes()
    assert b"sk-or" not in raw and b"Password" not in raw


def test_list_newest_first(log: RunLog) -> None:
    old = _start(log, task="first task")
    new = _start(log, mode="chat", task="\n  second task\nmore lines", model=None)
    long = _start(log, task="x" * 200)
    runs = log.list_runs()
    assert [r.id for r in runs] == [long.id, new.id, old.id]
    assert [r.id for r in log.list_runs(limit=2)] == [long.id, new.id]

    log.record_supervisor_call(old.id, reply="r", prompt_tokens=1, completion_tokens=1,
                               cost_usd=0.0123, attempts=1, message_count=1)
    assert log.get_run(old.id).total_cost_usd == 0.0123


def test_detail_format(log: RunLog) -> None:
    run = _start(log, task="Build it\nwell", settings={"max_iterations": 5})
    log.record_supervisor_call(run.id, reply="step one", prompt_tokens=10, completion_tokens=2,
                               cost_usd=0.5, attempts=1, message_count=2)
    t = log.begin_turn(run.id, "step one\n  indented")
    log.finish_turn(run.id, t.seq, reply="did step one", ended_by="hook")
    log.begin_turn(run.id, "step two")
    log.finish_run(run.id, status="budget", exit_code=3, message="cost budget $0.50 reached")
    text = format_run_detail(log.get_run(run.id), log.turns(run.id), log.supervisor_calls(run.id))
    assert text.splitlines()[0] == f"Run {run.id}"
    for expected in ("budget (exit 3)", "cost budget $0.50 reached", "m/x", "session s",
                     "supervisor $0.5000 over 1 calls", '"max_iterations": 5', "  Build it",
                     "=== turn 1  done by hook", "  | step one", "  |   indented",
                     "    did step one", "=== turn 2  sent",
                     "no reply recorded: the run ended (budget) while it was in flight",
                     "turns:         2: 1 answered, 1 without a reply"):
        assert expected in text, expected
    assert text.index("step one\n") < text.index("did step one") < text.index("turn 2")


def test_second_process_writes_while_first_reads(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    with RunLog(path) as log:
        run = _start(log)
        reader = sqlite3.connect(path, isolation_level=None)
        reader.execute("BEGIN")
        assert reader.execute("SELECT COUNT(*) FROM turns").fetchone()[0] == 0  # snapshot held
        script = textwrap.dedent(f"""
            import sys
            sys.path.insert(0, {SRC!r})
            from claude_orchestrator.runlog import RunLog
            with RunLog({str(path)!r}, busy_timeout=1.0) as log:
                for i in range(20):
                    t = log.begin_turn({run.id!r}, f"m{{i}}")
                    log.finish_turn({run.id!r}, t.seq, reply=f"r{{i}}", ended_by="hook")
        """)
        writer = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE)
        seen = 0
        while writer.poll() is None:
            seen = max(seen, len(log.turns(run.id)))
            assert log.get_run(run.id).turns <= 20
        _, err = writer.communicate(timeout=30)
        assert writer.returncode == 0, err.decode()
        assert reader.execute("SELECT COUNT(*) FROM turns").fetchone()[0] == 0  # still snapshot
        reader.execute("COMMIT")
        reader.close()
        assert len(log.turns(run.id)) == 20 and log.get_run(run.id).turns == 20
        assert [t.reply for t in log.turns(run.id)][-1] == "r19"


def test_chosen_run_id_activity_and_batch(log: RunLog) -> None:
    chosen = runlog.new_run_id()
    run = _start(log, run_id=chosen)
    assert run.id == chosen and run.activity is None and run.batch_id is None
    log.set_activity(run.id, "paused: limit")
    log.set_batch(run.id, "b-1", "orchestrator/" + run.id)
    other = _start(log, task="second")
    log.set_batch(other.id, "b-1", None)
    _start(log, task="not in the batch")
    got = log.get_run(run.id)
    assert (got.activity, got.batch_id, got.branch) == ("paused: limit", "b-1",
                                                        "orchestrator/" + run.id)
    assert got.activity_at is not None
    assert [r.id for r in log.batch_runs("b-1")] == [run.id, other.id]
    assert log.batch_runs("nope") == []
    with pytest.raises(RunLogError):  # an id taken twice is refused, not renamed
        for _ in range(2):
            _start(log, run_id=chosen)


def test_activity_follows_the_status_line() -> None:
    """The run log's activity is the one each status is given where it is decided: the words
    of the status line can change without `runs --watch` noticing."""
    from claude_orchestrator.drivers.lifecycle import ActivityReporter
    from claude_orchestrator.progress import Activity, QuietReporter

    class Inner(QuietReporter):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[tuple[str, Activity]] = []

        def waiting(self, what: str, activity: Activity = Activity.WORKING) -> None:
            self.seen.append((what, activity))

    recorded: list[str] = []
    inner = Inner()
    rep = ActivityReporter(inner, recorded.append)
    for what, activity in (
            ("waiting for Claude Code to reach its prompt", Activity.WORKING),
            ("waiting for Claude Code to finish", Activity.WORKING),
            ("waiting for Claude Code to finish", Activity.WORKING),
            ("supervisor writing the next message", Activity.SUPERVISOR),
            ("paused: usage limit, resumes 02:00 (in 3m)", Activity.PAUSED_LIMIT),
            ("paused: usage limit, resumes 02:00 (in 2m)", Activity.PAUSED_LIMIT),
            ("paused: someone is typing at the pane", Activity.PAUSED_PERSON),
            ("checking: pytest -q", Activity.VERIFYING),
            ("waiting for Claude Code's question to be answered", Activity.WAITING_QUESTION),
            ("paused: Claude's API failed (overloaded); again in 30s", Activity.PAUSED_API),
            ("any other words for a check", Activity.VERIFYING)):
        rep.waiting(what, activity)
    assert len(inner.seen) == 11 and inner.seen[3] == ("supervisor writing the next message",
                                                       Activity.SUPERVISOR)
    assert recorded == ["working", "supervisor", "paused: limit", "paused: person", "verifying",
                        "waiting: a question", "paused: API failure", "verifying"]
    rep.waiting("checking: make")  # no activity given: the run works
    assert recorded[-1] == "working"

    def broken(_: str) -> None:
        raise RunLogError("database is locked")

    ActivityReporter(inner, broken).waiting("checking: make",
                                            Activity.VERIFYING)  # a busy log stops nothing


def test_a_reader_upgrades_an_older_log_and_waits_for_one_being_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "runs.sqlite3"
    with monkeypatch.context() as m:
        m.setattr(runlog, "MIGRATIONS", runlog.MIGRATIONS[:5])  # an older release's log
        RunLog(path).close()
    db = sqlite3.connect(path)
    with db:
        db.execute("INSERT INTO runs (id, mode, task, workdir, started_at, pid, host, status) "
                   "VALUES ('20261101-000000-abcd', 'autonomous', 'from before', '/w', "
                   "'2026-11-01T00:00:00+00:00', 1, 'elsewhere', 'complete')")
    db.close()
    with RunLog(path, readonly=True) as reader:  # e.g. `runs --watch` before any new run
        (run,) = reader.list_runs()
    assert run.task == "from before" and run.activity is None and run.batch_id is None
    fresh = tmp_path / "new.sqlite3"
    fresh.touch(mode=0o600)  # made by a run this moment, its schema not yet written
    with pytest.raises(runlog.RunLogMissing):
        RunLog(fresh, readonly=True)


def test_processes_making_the_log_at_once_each_get_it(tmp_path: Path) -> None:
    """A batch's first runs (or two orchestrators) create the log in the same moment: each
    applies what is missing inside its own write transaction, none fails."""
    path = tmp_path / "runs.sqlite3"
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {SRC!r})
        from claude_orchestrator.runlog import RunLog
        time.sleep(max(0.0, float(sys.argv[1]) - time.time()))
        with RunLog({str(path)!r}) as log:
            print(len(log.list_runs()))
    """)
    start = f"{time.time() + 1.0}"
    procs = [subprocess.Popen([sys.executable, "-c", code, start], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(6)]
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [err for _, err in results]
    with RunLog(path) as log:
        assert log.list_runs() == []


# ----------------------------------------------------------------------------- issue 17
@pytest.mark.skipif(os.getuid() != 0, reason="giving a file to another uid needs root (CI "
                    "runs as root, so this runs there)")
def test_a_run_log_of_another_user_is_refused_never_chmod_ed(tmp_path: Path) -> None:
    theirs = tmp_path / "runs.sqlite3"
    theirs.write_bytes(b"")
    theirs.chmod(0o666)
    os.chown(theirs, 65534, -1)
    with pytest.raises(RunLogError, match="belongs to uid 65534"):
        RunLog(theirs)
    assert stat.S_IMODE(theirs.stat().st_mode) == 0o666 and theirs.read_bytes() == b""


def test_a_run_log_folder_others_may_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(RunLogError, match="others may write"):
        RunLog(shared / "runs.sqlite3")


def test_a_full_disk_is_its_own_line_not_unusable(tmp_path: Path) -> None:
    import sqlite3

    with RunLog(tmp_path / "runs.sqlite3") as log:
        error = log._unusable(sqlite3.OperationalError("database or disk is full"))
    assert "disk holding the run log" in str(error) and "is full" in str(error)
    assert "move it away" not in str(error) and error.exit_status == 1
