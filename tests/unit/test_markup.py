"""Issue 17, 8: rich markup in data is shown, never rendered (the status line, `runs --watch`,
the batch table). A task or a StopFailure error holding `[link=...]` or `[blink]` became a live
hyperlink (OSC 8) or blinking text (SGR 5)."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from claude_orchestrator.batch.runner import print_summary
from claude_orchestrator.progress import ConsoleReporter
from claude_orchestrator.runlog import RunLog
from claude_orchestrator.runlog.tables import RunFacts, watch_table

HOSTILE = "[link=https://attacker.example/x]click[/link] [blink]now[/blink] [bold red]!"


def _rendered_as_markup(out: str) -> bool:
    """An OSC 8 hyperlink or SGR 5 (blink) in what was written."""
    return "\x1b]8;" in out or "\x1b[5m" in out or "\x1b[5;" in out


def test_status_line_shows_markup_as_text() -> None:
    stream = io.StringIO()
    reporter = ConsoleReporter(stream, live=True)
    reporter.console = Console(file=stream, force_terminal=True, width=300,
                               color_system="truecolor")
    reporter.context(HOSTILE)
    reporter.waiting(f"Claude failed: {HOSTILE}")
    time.sleep(0.7)  # the status line's own refresh draws it
    reporter.idle()
    out = stream.getvalue()
    assert "[link=https://attacker.example/x]click[/link]" in out
    assert "[blink]now[/blink]" in out
    assert not _rendered_as_markup(out)


def test_runs_watch_table_shows_markup_as_text(tmp_path: Path) -> None:
    with RunLog(tmp_path / "runs.sqlite3") as log:
        run = log.start_run(mode="autonomous", task=HOSTILE, workdir="/w", model="m",
                            session="s", socket="x", settings={})
        log.set_activity(run.id, "[blink]paused[/blink]")
        now = datetime.now(UTC)
        runs = log.live_runs(now - timedelta(minutes=1))
        facts = [RunFacts.of(r, None) for r in runs]
        out = io.StringIO()
        Console(file=out, width=300, force_terminal=True, color_system="truecolor").print(
            watch_table(facts, {r.id: r.id for r in runs}, now, 300))
    text = out.getvalue()
    assert "[link=https://attacker.example/x]click[/link]" in text
    assert "[blink]paused[/blink]" in text
    assert not _rendered_as_markup(text)


def test_batch_table_shows_markup_as_text(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    with RunLog(tmp_path / "runs.sqlite3") as log:
        run = log.start_run(mode="autonomous", task=HOSTILE, workdir="/w", model="m",
                            session="s", socket="x", settings={})
        log.finish_run(run.id, status="complete", exit_code=0, message="ok")
        print_summary("[blink]batch-1[/blink]", [log.get_run(run.id)], json_output=False)
    out = capsys.readouterr().out
    assert "[link=https://attacker.example/x]" in out and "[blink]batch-1[/blink]" in out
    assert not _rendered_as_markup(out)
