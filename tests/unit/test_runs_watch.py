"""`runs --watch`: the table's content (pure) and the loop's keys, without a real terminal."""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from claude_orchestrator.runlog import RunLog, RunLogMissing
from claude_orchestrator.runlog.live import watch
from claude_orchestrator.runlog.tables import RunFacts, span, watch_table


def _render(table: Any) -> str:
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(table)
    return out.getvalue()


def test_span() -> None:
    assert [span(s) for s in (-1, 0, 42, 60, 425, 3600, 11520)] == [
        "0s", "0s", "42s", "1m00s", "7m05s", "1h00m", "3h12m"]


def test_table_shows_activity_turn_cost_and_ages(tmp_path: Path) -> None:
    with RunLog(tmp_path / "runs.sqlite3") as log:
        args: dict[str, Any] = dict(mode="autonomous", workdir="/w", model="m", session="s",
                                    socket="x", settings={})
        working = log.start_run(task="Add a --verbose flag\nand tests", **args)
        log.begin_turn(working.id, "first")
        log.finish_turn(working.id, 1, reply="ok", ended_by="hook")
        log.begin_turn(working.id, "second")
        log.set_activity(working.id, "paused: limit")
        done = log.start_run(task="\x1b[31mred\x1b[0m task", **args)
        log.finish_run(done.id, status="complete", exit_code=0, message="ok")
        fresh = log.start_run(task="x" * 100, **args)
        now = datetime.now(UTC)
        runs = log.live_runs(now - timedelta(minutes=1))
        assert [r.id for r in runs] == [working.id, done.id, fresh.id]
        old = log.live_runs(now + timedelta(minutes=1))  # `done` ended before then
        assert done.id not in [r.id for r in old]
        latest = log.latest_turns([r.id for r in runs])
        assert latest == {working.id: (2, "sent")}
        facts = [RunFacts.of(r, latest.get(r.id)) for r in runs]
        text = _render(watch_table(facts, {r.id: r.id for r in runs},
                                   now + timedelta(seconds=90), 200))
    lines = {line.split()[0]: line for line in text.splitlines()[1:]}
    assert text.splitlines()[0].split() == ["run", "task", "now", "turns", "cost", "elapsed",
                                            "last", "files"]
    row = lines[working.id]
    assert "Add a --verbose flag" in row and "paused: limit" in row and " 1+1 " in row
    assert "1m30s ago" in row and "$0.0000" in row
    assert "complete" in lines[done.id] and "\x1b" not in text
    assert "\\x1b[31mred" in lines[done.id]  # shown, never sent to the terminal
    assert "starting" in lines[fresh.id] and "x" * 40 in lines[fresh.id]
    order = [line.split()[0] for line in text.splitlines()[1:]]
    assert order == [fresh.id, working.id, done.id]  # at work first, newest first; then ended
    assert facts[1].state == "complete"


def test_q_leaves_and_the_terminal_is_restored(tmp_path: Path) -> None:
    import termios

    master, slave = os.openpty()
    before = termios.tcgetattr(slave)
    with RunLog(tmp_path / "runs.sqlite3") as log, os.fdopen(slave, "r") as keys:
        out = io.StringIO()
        done: list[int] = []
        worker = threading.Thread(target=lambda: done.append(
            watch(log, refresh=0.05, console=Console(file=out), keys=keys)), daemon=True)
        worker.start()
        worker.join(0.3)
        assert worker.is_alive()  # it redraws until told to leave
        os.write(master, b"x")
        worker.join(0.3)
        assert worker.is_alive()
        os.write(master, b"q")
        worker.join(10)
        assert done == [0]
        assert termios.tcgetattr(slave) == before  # cbreak undone
    os.close(master)
    assert "no runs in progress" in out.getvalue()


def _watch_opening(opener: Callable[[], RunLog | None], found: threading.Event,
                   meanwhile: Callable[[], None] = lambda: None) -> tuple[list[int], str]:
    """Run `watch` on an opener through a pty, do `meanwhile`, press q once `found` is set:
    what watch returned and what it drew."""
    master, slave = os.openpty()
    out = io.StringIO()
    done: list[int] = []
    with os.fdopen(slave, "r") as keys:
        worker = threading.Thread(target=lambda: done.append(
            watch(opener, refresh=0.02, console=Console(file=out, width=200), keys=keys)),
            daemon=True)
        worker.start()
        meanwhile()
        assert found.wait(10)
        os.write(master, b"q")
        worker.join(10)
    os.close(master)
    return done, out.getvalue()


def _start_a_run(path: Path, task: str) -> None:
    with RunLog(path) as log:
        log.start_run(mode="autonomous", task=task, workdir="/w", model="m", session="s",
                      socket="x", settings={})


def test_a_watch_started_before_the_first_run_waits_for_the_log(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    tries: list[bool] = []
    found = threading.Event()

    def opener() -> RunLog | None:
        tries.append(path.exists())
        if not path.exists():
            return None
        opened = RunLog(path, readonly=True)  # RunLogMissing while it is being made: retried
        if not opened.list_runs():  # made, but its first run not written yet: not ready
            opened.close()
            return None
        found.set()
        return opened

    def first_run_later() -> None:
        time.sleep(0.3)
        _start_a_run(path, "the first task")

    done, drawn = _watch_opening(opener, found, first_run_later)
    assert done == [0] and tries[0] is False and tries[-1] is True  # waited, then opened it
    assert "the first task" in drawn


def test_a_log_still_being_made_is_retried_not_fatal(tmp_path: Path) -> None:
    """Another process may be half-way through making the log: the watch keeps waiting."""
    path = tmp_path / "runs.sqlite3"
    _start_a_run(path, "made meanwhile")
    calls: list[int] = []
    found = threading.Event()

    def opener() -> RunLog | None:
        calls.append(1)
        if len(calls) < 3:
            raise RunLogMissing("no run log yet")
        found.set()
        return RunLog(path, readonly=True)

    done, drawn = _watch_opening(opener, found)
    assert done == [0] and len(calls) == 3
    assert "made meanwhile" in drawn
