"""`runs --watch`: a live table of the runs in progress and those just finished.

It only reads the run log (WAL lets it read while the runs write), once a second; each run keeps
its `activity` current (drivers/lifecycle.py), so the table shows what a run does now without
asking the run. `q` (or Ctrl-C) leaves it.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import termios
import tty
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import IO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from claude_orchestrator.runlog.format import clip, first_line
from claude_orchestrator.runlog.log import RunLog, RunLogMissing, RunRecord
from claude_orchestrator.screen import terminal_safe

RECENT = timedelta(minutes=15)  # how long a finished run stays in the table
_STYLES = {"complete": "green", "running": "cyan", "interrupted": "yellow", "budget": "yellow",
           "quit": "yellow"}


def span(seconds: float) -> str:
    """`42s`, `7m05s`, `3h12m`: short enough for a column."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _task(text: str, width: int = 48) -> str:
    return clip(terminal_safe(first_line(text) or "(chat session)"), width)


def state_of(run: RunRecord) -> str:
    """What the run does now (working, paused: limit, verifying...) or how it ended."""
    if run.status == "running":
        return run.activity or "starting"
    return run.status


def runs_table(runs: Sequence[RunRecord], latest: Mapping[str, tuple[int, str]],
               now: datetime) -> Table:
    """The table for these runs at `now` (pure: what the screen shows, testable as text)."""
    table = Table(expand=False, pad_edge=False, box=None, header_style="bold")
    for name, justify in (("run", "left"), ("task", "left"), ("status", "left"),
                          ("turn", "right"), ("cost", "right"), ("elapsed", "right"),
                          ("last activity", "right")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for run in runs:
        seq, turn_status = latest.get(run.id, (0, ""))
        turn = f"{seq}{'…' if turn_status == 'sent' and run.status == 'running' else ''}"
        end = run.ended_at or now
        last = run.activity_at or run.started_at
        if run.ended_at is not None:
            last = max(last, run.ended_at)
        state = state_of(run)
        style = ("magenta" if state.startswith(("paused", "waiting")) else
                 _STYLES.get(run.status, "red"))
        table.add_row(run.id, _task(run.task), Text(state, style=style), turn or "0",
                      f"${run.total_cost_usd:.4f}", span((end - run.started_at).total_seconds()),
                      f"{span((now - last).total_seconds())} ago")
    return table


def _screen(log: RunLog | Callable[[], RunLog | None], batch_id: str | None,
            recent: timedelta) -> Group:
    now = datetime.now(timezone.utc)
    if not isinstance(log, RunLog):
        return Group(Text(f"no run log yet; waiting for the first run · "
                          f"{now.astimezone():%H:%M:%S} · q leaves", style="dim"))
    runs = log.live_runs(now - recent, batch_id)
    working = sum(r.status == "running" for r in runs)
    head = Text(f"{working} running, {len(runs) - working} finished in the last "
                f"{span(recent.total_seconds())}" + (f" (batch {batch_id})" if batch_id else "")
                + f" · {now.astimezone():%H:%M:%S} · q leaves", style="dim")
    if not runs:
        return Group(head, Text("no runs in progress"))
    return Group(head, runs_table(runs, log.latest_turns([r.id for r in runs]), now))


@contextlib.contextmanager
def _keys(stream: IO[str]) -> Iterator[int | None]:
    """The terminal's file descriptor in cbreak mode (a key arrives without Enter), restored
    afterwards; None when input is not a terminal (then only Ctrl-C leaves)."""
    try:
        fd = stream.fileno()
    except (AttributeError, ValueError, OSError):
        yield None
        return
    if not os.isatty(fd):
        yield None
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield fd
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _try_open(opener: Callable[[], RunLog | None]) -> RunLog | None:
    """The run log once it exists; a log another process is still making is not there yet."""
    try:
        return opener()
    except RunLogMissing:
        return None


def watch(log: RunLog | Callable[[], RunLog | None], *, batch_id: str | None = None,
          recent: timedelta = RECENT, refresh: float = 1.0, console: Console | None = None,
          keys: IO[str] | None = None) -> int:
    """Redraw the table every `refresh` seconds until `q` or Ctrl-C. `log` may be a function
    that opens the run log once it exists (a watch started before the first run)."""
    console = console or Console()
    opened: list[RunLog] = []
    try:
        with _keys(keys or sys.stdin) as fd, Live(_screen(log, batch_id, recent),
                                                 console=console, auto_refresh=False) as live:
            while True:
                if fd is None:
                    select.select([], [], [], refresh)
                else:
                    ready, _, _ = select.select([fd], [], [], refresh)
                    pressed = os.read(fd, 64) if ready else b"?"
                    if b"q" in pressed.lower():
                        return 0
                    if not pressed:  # the terminal went away
                        fd = None
                if not isinstance(log, RunLog):
                    found = _try_open(log)
                    if found is not None:
                        log = found
                        opened.append(found)
                live.update(_screen(log, batch_id, recent), refresh=True)
    except KeyboardInterrupt:
        return 0
    finally:
        for each in opened:
            each.close()
