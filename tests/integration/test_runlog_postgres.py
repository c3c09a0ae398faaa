"""The run log in a real PostgreSQL (a session's cluster on 127.0.0.1): the same records and
migrations as SQLite, writes that wait out a server restart, claims that two processes cannot
both win, and a URL's password never shown."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.servers import missing

try:
    import psycopg
except ImportError:
    missing("psycopg is not installed: pip install 'claude-orchestrator[postgres]'")

from claude_orchestrator.agents.prices import Tokens
from claude_orchestrator.runlog import RunLog, RunLogError, RunLogMissing, open_runlog
from claude_orchestrator.runlog import log as runlog
from claude_orchestrator.runlog.overview import (
    data_version,
    last_checks,
    pauses_of,
    run_signatures,
    spend_since,
    turns_per_hour,
)
from tests.integration.servers import PG_PASSWORD, PG_PASSWORD_USER, Postgres

pytestmark = pytest.mark.scale


@pytest.fixture(params=["sqlite", "postgresql"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunLog]:
    """The same records, each backend."""
    if request.param == "sqlite":
        target: Path | str = tmp_path / "runs.sqlite3"
    else:
        target = request.getfixturevalue("postgres").new_database()
    with RunLog(target) as opened:
        yield opened


def _start(log: RunLog, task: str = "Fix the tests", **kw: Any) -> runlog.RunRecord:
    args: dict[str, Any] = dict(mode="autonomous", task=task, workdir="/w", model="m/x",
                                session="s", socket="sock", settings={"api_key": "k", "n": 1})
    args.update(kw)
    return log.start_run(**args)


def test_every_record_reads_back_the_same_from_either_backend(log: RunLog) -> None:
    until = datetime(2030, 1, 1, tzinfo=UTC)
    with RunLog(log.location, readonly=True) as reader:
        seen = data_version(reader)
        run = _start(log)
        assert data_version(reader) != seen  # a reader learns another wrote
    queued = [_start(log, task=f"task {n}", queued=True, run_id=f"20300101-000000-00{n}a")
              for n in range(3)]
    for q in queued:
        log.set_batch(q.id, "batch-1", "orchestrator/" + q.id)
    log.set_agent_session(run.id, "sid-1")
    log.set_activity(run.id, "working")
    log.record_supervisor_call(run.id, reply="do it", prompt_tokens=10, completion_tokens=2,
                               cost_usd=0.5, attempts=1, message_count=2)
    turn = log.begin_turn(run.id, "do it", mark=40, source="chat")
    log.mark_delivered(run.id, turn.seq, until)
    log.finish_turn(run.id, turn.seq, reply="done", ended_by="hook", ended_at=until,
                    recovery="none", timings={"enters": 1}, output="out")
    log.add_claude_usage(run.id, turn.seq, [Tokens("claude-x", 1, 2, 3, 4)], 0.25)
    log.set_turn_tools(run.id, turn.seq, [{"tool": "Bash", "detail": "ls", "failed": False}])
    failed = log.begin_turn(run.id, "again")
    log.fail_turn(run.id, failed.seq, "pane died")
    pause = log.begin_pause(run.id, turn_seq=turn.seq, reason="limit", until=until,
                            text="limit reached")
    log.end_pause(run.id, pause)
    log.record_verification(run.id, command="pytest", status=0, seconds=1.5, output="ok")
    log.finish_run(run.id, status="complete", exit_code=0, message="all good")

    got = log.get_run(run.id[:12])
    assert (got.status, got.agent_session_id, got.activity, got.turns) == (
        "complete", "sid-1", "working", 1)
    assert got.settings == {"n": 1}  # the key never stored
    assert (got.prompt_tokens, got.claude_tokens) == (10, 10)
    assert got.total_cost_usd == pytest.approx(0.75)
    assert log.get_run(run.id[-6:]).id == run.id
    done, gone = log.turns(run.id)
    assert (done.reply, done.output, done.source, done.events_mark, done.delivered_at) == (
        "done", "out", "chat", 40, until)
    assert done.tools == ({"tool": "Bash", "detail": "ls", "failed": False},)
    assert (gone.status, gone.error) == ("failed", "pane died")
    assert log.in_flight_turn(run.id) is None
    assert [(c.reply, c.cost_usd) for c in log.supervisor_calls(run.id)] == [("do it", 0.5)]
    assert [p.until_at for p in log.pauses(run.id)] == [until]
    assert [v.output for v in log.verifications(run.id)] == ["ok"]
    assert [r.id for r in log.batch_runs("batch-1")] == [q.id for q in queued]  # task order
    assert [r.id for r in log.list_runs()][:1] == [queued[-1].id]
    assert log.latest_turns([run.id]) == {run.id: (2, "failed")}
    assert log.first_messages([run.id]) == {run.id: "do it"}
    (batch,) = log.batches()
    assert (batch.id, batch.runs, batch.statuses) == ("batch-1", 3, {"queued": 3})
    since = datetime.now(UTC) - timedelta(hours=1)
    assert {r.id for r in log.live_runs(since)} == {run.id, *(q.id for q in queued)}
    assert {i for i, _ in run_signatures(log, since)} == {run.id, *(q.id for q in queued)}
    assert sum(s.supervisor_usd for s in spend_since(log, since)) == pytest.approx(0.5)
    assert last_checks(log, [run.id])[run.id].command == "pytest"
    assert len(pauses_of(log, [run.id])[run.id]) == 1
    assert sum(turns_per_hour(log, since)[run.id].values()) == 2
    with pytest.raises(RunLogError, match="taken already"):
        _start(log, run_id=run.id)


def test_the_same_migrations_build_the_database(postgres: Postgres) -> None:
    url = postgres.new_database()
    with pytest.raises(RunLogMissing):
        RunLog(url, readonly=True)  # a reader makes nothing
    with RunLog(url):
        pass
    with psycopg.connect(url) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY name")]
        types = dict(conn.execute("SELECT column_name, data_type FROM information_schema."
                                  "columns WHERE table_name = 'runs'").fetchall())
    assert names == sorted(m.__name__ for m in runlog.MIGRATIONS)
    assert (types["cost_usd"], types["claude_tokens"]) == ("double precision", "bigint")
    with RunLog(url, readonly=True) as reader:
        assert reader.list_runs() == []


def test_processes_making_the_database_at_once_each_get_it(postgres: Postgres) -> None:
    url = postgres.new_database()
    code = ("import sys; from claude_orchestrator.runlog import RunLog\n"
            "with RunLog(sys.argv[1]) as log:\n"
            "    print(log.start_run(mode='chat', task='t', workdir='/', model=None, "
            "session=None, socket=None, settings={}).id)")
    procs = [subprocess.Popen([sys.executable, "-c", code, url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(6)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [err for _, err in results]
    with RunLog(url) as log:
        assert len({r.id for r in log.list_runs()}) == 6  # unique run ids


def test_writes_wait_out_a_server_restart(postgres: Postgres) -> None:
    """A run writing while its database restarts: every write lands, none raises, and it is
    told once that it waits."""
    told: list[str] = []
    errors: list[BaseException] = []
    with RunLog(postgres.new_database(), on_busy=told.append) as log:
        run = _start(log)
        writes = 0
        stop = threading.Event()

        def write() -> None:
            nonlocal writes
            try:
                while not stop.is_set() and writes < 2000:
                    log.set_activity(run.id, f"working {writes}")
                    log.begin_turn(run.id, f"message {writes}")
                    writes += 1
            except BaseException as e:
                errors.append(e)

        writer = threading.Thread(target=write)
        writer.start()
        try:
            postgres.restart()
        finally:
            stop.set()
            writer.join(60)
        assert not errors, errors
        assert len(log.turns(run.id)) >= writes and writes > 0
        assert log.get_run(run.id).activity == f"working {writes - 1}"
    assert len(told) == 1 and "retrying (nothing is lost meanwhile)" in told[0], told


def test_two_batches_claiming_a_run_at_once_never_both_get_it(postgres: Postgres) -> None:
    url = postgres.new_database()
    with RunLog(url) as a, RunLog(url) as b:
        runs = [_start(a, task=f"t{n}", queued=True, run_id=f"20300101-000000-0{n:03d}")
                for n in range(20)]
        seen = {r.id: a.get_run(r.id).claimed_by for r in runs}
        won: dict[str, list[str]] = {"a": [], "b": []}

        def claim(name: str, log: RunLog) -> None:
            for r in runs:
                if log.claim(r.id, seen[r.id]):
                    won[name].append(r.id)

        threads = [threading.Thread(target=claim, args=(n, lg)) for n, lg in (("a", a),
                                                                               ("b", b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(won["a"] + won["b"]) == sorted(r.id for r in runs)  # each once
        first = a.resume_run(runs[0].id)
        assert first.status == "running"
        with pytest.raises(RunLogError, match="started meanwhile by another process"):
            b.resume_run(runs[0].id)  # a second start of a running run is refused


def test_a_password_in_the_url_is_never_shown(postgres: Postgres, tmp_path: Path) -> None:
    url = postgres.new_database().replace(
        "co_test@", f"{PG_PASSWORD_USER}:{PG_PASSWORD}@")
    with RunLog(url) as log:
        assert PG_PASSWORD not in log.where and "[REDACTED]" in log.where
        _start(log)
    wrong = url.replace(PG_PASSWORD, "not-it-9f8e7d")
    with pytest.raises(RunLogError) as refused:
        RunLog(wrong)
    assert "not-it-9f8e7d" not in str(refused.value)
    assert "password authentication failed" in str(refused.value)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CLAUDE_ORCHESTRATOR_RUNLOG": url}
    listed = subprocess.run([sys.executable, "-m", "claude_orchestrator", "runs"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and "Fix the tests" in listed.stdout, listed.stderr
    flag = subprocess.run([sys.executable, "-m", "claude_orchestrator", "runs", "--runlog", url],
                          env={**env, "CLAUDE_ORCHESTRATOR_RUNLOG": ""}, capture_output=True,
                          text=True, timeout=60)
    assert flag.returncode == 2 and PG_PASSWORD not in flag.stderr
    assert "a password on the command line" in flag.stderr
    assert len(flag.stderr.strip().splitlines()) == 1
    with open_runlog(url, readonly=True) as reader:
        assert len(reader.list_runs()) == 1
