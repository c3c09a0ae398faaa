"""The tables of runs people read: `runs`, `runs --watch` and a batch's summary. One source of
facts per run (`RunFacts`), so the tables never disagree (the watch once said `turn 1…` where
the batch said `turns 0`), and one way to fit a terminal: a column is dropped before anything
is cut, the task gives way first, and an id is never cut (a short unique suffix stands in for
it where space is short, and every command takes it).
"""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rich.table import Table
from rich.text import Text

from claude_orchestrator.runlog.format import clip, first_line
from claude_orchestrator.runlog.log import RunRecord
from claude_orchestrator.screen import terminal_safe

TASK_MIN = 16  # the task column's least width before another column goes
_STYLES = {"complete": "green", "running": "cyan", "interrupted": "yellow", "budget": "yellow",
           "quit": "yellow", "queued": "dim"}


def span(seconds: float) -> str:
    """`42s`, `7m05s`, `3h12m`: short enough for a column.

    >>> span(42), span(425), span(11520)
    ('42s', '7m05s', '3h12m')
    """
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def short_ids(ids: Sequence[str], every: Sequence[str]) -> dict[str, str]:
    """For each id, its shortest suffix (4 characters at least) that no other id in `every`
    ends with: what `show`, `resume`, `review`... take in place of the whole id.

    >>> short_ids(['20261201-020044-ab8d'], ['20261201-020044-ab8d', '20261202-1-0b8d'])
    {'20261201-020044-ab8d': 'ab8d'}
    >>> short_ids(['x-1-ab8d'], ['x-1-ab8d', 'x-2-ab8d'])
    {'x-1-ab8d': '1-ab8d'}
    """
    others = set(every) | set(ids)
    longest = max((len(o) for o in others), default=0)
    # suffix -> how many ids end with it, for every length (a thousand runs: one pass each)
    ends: dict[str, int] = {}
    for o in others:
        for n in range(4, min(len(o), longest) + 1):
            ends[o[-n:]] = ends.get(o[-n:], 0) + 1
    out = {}
    for run_id in ids:
        n = 4
        while n < len(run_id) and ends.get(run_id[-n:], 0) > 1:
            n += 1
        out[run_id] = run_id[-n:]
    return out


@dataclass(frozen=True)
class RunFacts:
    """What every table shows of one run."""

    run: RunRecord
    label: str  # the task's first line, or a chat's first message
    state: str  # what it does now (working, paused: limit...) or how it ended
    turns: str  # turns answered, `+1` while one is in flight
    in_flight: bool

    @classmethod
    def of(cls, run: RunRecord, latest: tuple[int, str] | None,
           first_message: str | None = None) -> RunFacts:
        flying = latest is not None and latest[1] == "sent" and run.status == "running"
        label = first_line(run.task) or (
            f"(chat) {first_line(first_message)}" if first_message else "(chat session)")
        state = (run.activity or "starting") if run.status == "running" else run.status
        return cls(run, terminal_safe(label), state,
                   f"{run.turns}{'+1' if flying else ''}", flying)

    @property
    def style(self) -> str:
        if self.state.startswith(("paused", "waiting")):
            return "magenta"
        return _STYLES.get(self.run.status, "red")

    def files(self) -> str:
        return "-" if self.run.files_changed is None else str(self.run.files_changed)


@dataclass(frozen=True)
class Column:
    name: str
    justify: str = "left"
    drop: int = 0  # 0: kept always; otherwise the highest goes first when space is short
    flex: bool = False  # takes what is left (and is cut, with …, when it must be)


def _fit(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> list[int]:
    """The columns kept at `width`: droppable ones go (highest `drop` first) until the fixed
    columns and TASK_MIN for the flexible one fit."""
    natural = [max([len(c.name), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    keep = list(range(len(columns)))

    def need() -> int:
        fixed = sum(natural[i] for i in keep if not columns[i].flex)
        flexible = sum(min(natural[i], TASK_MIN) for i in keep if columns[i].flex)
        return fixed + flexible + 2 * (len(keep) - 1)

    while need() > width:
        droppable = [i for i in keep if columns[i].drop]
        if not droppable:
            break
        keep.remove(max(droppable, key=lambda i: columns[i].drop))
    return keep


def table(columns: Sequence[Column], rows: Sequence[Sequence[str | Text]],
          width: int) -> Table:
    """A borderless table of these rows that fits `width` columns: the columns `_fit` keeps,
    each as wide as its widest cell, the flexible one given what is left (cut with …)."""
    plain = [[c.plain if isinstance(c, Text) else c for c in row] for row in rows]
    keep = _fit(columns, plain, width)
    natural = {i: max([len(columns[i].name), *(len(r[i]) for r in plain)]) for i in keep}
    fixed = sum(natural[i] for i in keep if not columns[i].flex) + 2 * (len(keep) - 1)
    flexible = [i for i in keep if columns[i].flex]
    room = max(TASK_MIN, width - fixed) // max(1, len(flexible))
    out = Table(box=None, pad_edge=False, header_style="bold", expand=False)
    for i in keep:
        c = columns[i]
        size = min(natural[i], room) if c.flex else natural[i]
        out.add_column(c.name, justify=c.justify, no_wrap=True,  # type: ignore[arg-type]
                       overflow="ellipsis", width=size)
    for row in rows:
        out.add_row(*(row[i] if isinstance(row[i], Text) else Text(str(row[i])) for i in keep))
    return out


def folder(path: str, width: int = 30) -> str:
    """A folder short enough for a column: home as ~, the end kept."""
    home = str(Path.home())
    shown = "~" + path[len(home):] if path.startswith(home + "/") or path == home else path
    return shown if len(shown) <= width else "…" + shown[-(width - 1):]


def runs_listing(facts: Sequence[RunFacts], ids: Mapping[str, str], width: int) -> Table:
    """`runs`: newest first, with the folder and the batch."""
    columns = [Column("run"), Column("status"), Column("started", drop=3),
               Column("turns", "right"), Column("cost", "right"),
               Column("files", "right", drop=2), Column("folder", drop=4),
               Column("batch", drop=5), Column("task", flex=True)]
    rows: list[list[str | Text]] = [[ids[f.run.id], Text(f.state, style=f.style),
             f"{f.run.started_at.astimezone():%m-%d %H:%M}", f.turns,
             f"${f.run.total_cost_usd:.4f}", f.files(), folder(f.run.workdir),
             f.run.batch_id or "-", f.label] for f in facts]
    return table(columns, rows, width)


def watch_table(facts: Sequence[RunFacts], ids: Mapping[str, str], now: datetime,
                width: int) -> Table:
    """`runs --watch`: the runs at work first (then the ones just finished), what each does
    now, its turns, cost, time and last sign of life."""
    ordered = sorted(facts, key=lambda f: (f.run.status != "running", f.run.status != "queued",
                                           -f.run.started_at.timestamp()))
    columns = [Column("run"), Column("task", flex=True), Column("now"),
               Column("turns", "right"), Column("cost", "right"),
               Column("elapsed", "right", drop=2), Column("last", "right", drop=3),
               Column("files", "right", drop=1)]
    # Runs on other machines (a Ray cluster's nodes): where each works, its job, and the
    # command that shows its Claude there.
    here = socket.gethostname()
    spread = any(f.run.job_id or f.run.host != here for f in facts)
    if spread:
        columns += [Column("node", drop=4), Column("job", drop=5), Column("attach", drop=6)]
    rows: list[list[str | Text]] = []
    for f in ordered:
        run = f.run
        last = run.activity_at or run.started_at
        if run.ended_at is not None:
            last = max(last, run.ended_at)
        rows.append([ids[run.id], f.label, Text(f.state, style=f.style), f.turns,
                     f"${run.total_cost_usd:.4f}",
                     span(((run.ended_at or now) - run.started_at).total_seconds()),
                     f"{span((now - last).total_seconds())} ago", f.files()])
        if spread:
            rows[-1] += [terminal_safe(run.host), terminal_safe(run.job_id or "-"),
                         terminal_safe(run.attach if run.status == "running" else "-")]
    return table(columns, rows, width)


def batch_table(facts: Sequence[RunFacts], ids: Mapping[str, str], width: int) -> Table:
    """A batch's summary, in the order of its tasks."""
    columns = [Column("#", "right"), Column("task", flex=True), Column("status"),
               Column("turns", "right"), Column("cost", "right"),
               Column("files", "right", drop=2), Column("branch", drop=1), Column("run")]
    rows: list[list[str | Text]] = [[str(n), f.label, Text(f.state, style=f.style), f.turns,
             f"${f.run.total_cost_usd:.4f}", f.files(), f.run.branch or "-", ids[f.run.id]]
            for n, f in enumerate(facts, 1)]
    return table(columns, rows, width)


def task_label(text: str, width: int = 60) -> str:
    """A task as a note names it: its first line, cut to `width`."""
    return clip(first_line(text), width)
