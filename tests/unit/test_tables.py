"""The tables of runs at 80 and 120 columns (issue 19): nothing wider than the terminal, ids
never cut (a unique suffix where space is short, which every command takes), a column dropped
before the task is cut short, the same facts in every table."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from claude_orchestrator.runlog import RunLog, RunRecord
from claude_orchestrator.runlog.tables import (
    RunFacts,
    batch_table,
    runs_listing,
    short_ids,
    watch_table,
)


def render(table: Any, width: int) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(table)
    return out.getvalue().rstrip("\n").splitlines()


@pytest.fixture
def runs(tmp_path: Path) -> tuple[list[RunRecord], dict[str, tuple[int, str]], list[str]]:
    with RunLog(tmp_path / "runs.sqlite3") as log:
        made = []
        for n, task in enumerate(["Add a --verbose flag to the command line and its tests",
                                  "", "Document the batch file format in the README"]):
            run = log.start_run(mode="chat" if not task else "autonomous", task=task,
                                workdir=f"/home/someone/src/project-{n}/sub", model="m",
                                session="s", socket="x", settings={})
            log.begin_turn(run.id, f"first message of run {n}")
            made.append(run.id)
        log.finish_turn(made[0], 1, reply="ok", ended_by="hook")
        log.set_batch(made[2], "batch-20261202-010203-beef", "orchestrator/" + made[2])
        log.set_changes(made[2], 3, "")
        log.finish_run(made[2], status="complete", exit_code=0, message="done")
        records = [log.get_run(i) for i in made]
        return records, log.latest_turns(made), log.all_ids()


@pytest.mark.parametrize("width", [80, 120])
def test_every_table_fits_and_never_cuts_an_id(width: int, runs: Any) -> None:
    records, latest, every = runs
    ids = short_ids([r.id for r in records], every) if width < 120 else {
        r.id: r.id for r in records}
    facts = [RunFacts.of(r, latest.get(r.id), f"first message of run {n}")
             for n, r in enumerate(records)]
    now = datetime.now(UTC) + timedelta(minutes=3)
    for table in (runs_listing(facts, ids, width), watch_table(facts, ids, now, width),
                  batch_table(facts, ids, width)):
        lines = render(table, width)
        assert all(len(line) <= width for line in lines), "\n".join(lines)
        for run in records:
            assert any(ids[run.id] in line for line in lines[1:]), (ids[run.id], lines)


def test_at_80_columns_columns_go_before_the_task_is_cut(runs: Any) -> None:
    records, latest, every = runs
    ids = short_ids([r.id for r in records], every)
    facts = [RunFacts.of(r, latest.get(r.id)) for r in records]
    wide = render(runs_listing(facts, {r.id: r.id for r in records}, 200), 200)
    narrow = render(runs_listing(facts, ids, 80), 80)
    assert wide[0].split() == ["run", "status", "started", "turns", "cost", "files", "folder",
                               "batch", "task"]
    assert "batch" not in narrow[0] and "folder" not in narrow[0] and "task" in narrow[0]
    assert all(len(i) == 4 for i in ids.values())  # the random suffix is unique here
    assert any("Add a --verbose flag" in line for line in narrow)


def test_one_source_of_turns_for_every_table(runs: Any) -> None:
    """A run with its first message in flight is `0+1` in the watch and the batch table alike;
    a chat run is named by its first message."""
    records, latest, _ = runs
    chat = RunFacts.of(records[1], latest.get(records[1].id), "first message of run 1")
    assert chat.turns == "0+1" and chat.label == "(chat) first message of run 1"
    now = datetime.now(UTC)
    ids = {chat.run.id: chat.run.id}
    for table in (watch_table([chat], ids, now, 200), batch_table([chat], ids, 200)):
        assert any(" 0+1 " in line for line in render(table, 200))
