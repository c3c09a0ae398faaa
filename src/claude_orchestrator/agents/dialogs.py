"""Answering a TUI's question by meaning: find the wanted option by its text, move the `❯`
selection to it one arrow key at a time, and press Enter only when the screen shows the marker
on it. Never by position or number: Claude Code 2.1.332 dropped the numbers and put `No, exit`
first, so an answer by position exits Claude.

Pure functions over screen lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MARKER = "❯"
_OPTION_RE = re.compile(r"^(\s*)(❯)?\s*(?:\d+\.\s+)?(\S.*?)\s*$")


@dataclass(frozen=True)
class Option:
    """One row of a choice list: its line index, whether the marker is on it, its label."""

    row: int
    selected: bool
    label: str


def options(lines: Sequence[str], start: int = 0) -> list[Option]:
    """The choice rows at or below line `start`: the marked row and the rows around it whose
    label begins in the same column (numbered or not).

    >>> [o.label for o in options([' Pick one', ' ❯ No, exit', '   Yes, I trust this folder',
    ...                            ' Enter to confirm'])]
    ['No, exit', 'Yes, I trust this folder']
    >>> [(o.label, o.selected) for o in options(['  ❯ 1. Yes', '    2. No'])]
    [('Yes', True), ('No', False)]
    """
    marked = [i for i in range(start, len(lines)) if lines[i].lstrip().startswith(MARKER)]
    if not marked:
        return []
    sel = marked[-1]
    column = _label_column(lines[sel])
    rows: list[Option] = []
    for direction in (-1, 1):
        i = sel + direction if direction > 0 else sel
        while start <= i < len(lines):
            line = lines[i]
            if not line.strip() or _label_column(line) != column:
                break
            m = _OPTION_RE.match(line)
            if m is None:
                break
            rows.append(Option(i, i == sel, m.group(3)))
            i += direction
    return sorted(rows, key=lambda o: o.row)


def _label_column(line: str) -> int:
    """Where a row's label starts (after indentation, the marker and a `1.` number)."""
    m = _OPTION_RE.match(line)
    return m.start(3) if m else -1


def key_toward(lines: Sequence[str], wanted: Callable[[str], bool], start: int = 0) -> str | None:
    """The one key that brings the answer closer: `Enter` when the marker is on the wanted
    option, else `Down` or `Up` toward it. None when no option is wanted (an unknown question).

    >>> screen = [' Trust?', ' ❯ No, exit', '   Yes, I trust this folder']
    >>> key_toward(screen, lambda s: s.startswith('Yes, I trust'))
    'Down'
    >>> key_toward([' Trust?', '   No, exit', ' ❯ Yes, I trust this folder'],
    ...            lambda s: s.startswith('Yes, I trust'))
    'Enter'
    >>> key_toward(screen, lambda s: s == 'Maybe') is None
    True
    """
    rows = options(lines, start)
    target = next((o for o in rows if wanted(o.label)), None)
    current = next((o for o in rows if o.selected), None)
    if target is None or current is None:
        return None
    if target.row == current.row:
        return "Enter"
    return "Down" if target.row > current.row else "Up"
