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
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import IO

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from claude_orchestrator.runlog.log import RunLog, RunLogMissing
from claude_orchestrator.runlog.tables import RunFacts, short_ids, span, watch_table

RECENT = timedelta(minutes=15)  # how long a finished run stays in the table


def _screen(log: RunLog | Callable[[], RunLog | None], batch_id: str | None,
            recent: timedelta, width: int) -> Group:
    now = datetime.now(UTC)
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
    ids = [r.id for r in runs]
    latest, first = log.latest_turns(ids), log.first_messages(ids)
    shown = {i: i for i in ids} if width >= 140 else short_ids(ids, log.all_ids())
    facts = [RunFacts.of(r, latest.get(r.id), first.get(r.id)) for r in runs]
    return Group(head, watch_table(facts, shown, now, width))


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
        with _keys(keys or sys.stdin) as fd, Live(_screen(log, batch_id, recent, console.width),
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
                live.update(_screen(log, batch_id, recent, console.width), refresh=True)
    except KeyboardInterrupt:
        return 0
    finally:
        for each in opened:
            each.close()
