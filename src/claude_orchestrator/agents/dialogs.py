"""Answering a TUI's question by meaning: find the wanted option by its text, move the `❯`
selection to it one arrow key at a time, and press Enter only when the screen shows the marker
on it. Never by position or number: Claude Code 2.1.332 dropped the numbers and put `No, exit`
first, so an answer by position exits Claude.

Only the newest question counts: the bottom-most heading on screen. Claude's classic renderer
draws a whole new frame below the old one when it redraws (after it was stopped and continued,
say), and an answered question's text can stay above the next question or the prompt.

Keys are paced (`ready_for_key`): Claude 2.1.332 guards its choice lists against keys that were
typed before the list showed. For 150 ms after a list opens (and after its process is continued,
or after it refused a key) it refuses Enter, and when that time is up it remounts the list with
the default option (`No, exit`) selected again, undoing an arrow key pressed meanwhile. (Read in
its code, `fg=150` and `remountKey: settled ? "settled" : "held"`; measured with strace: a Down
read 30 ms after the trust list was drawn moved the marker, and 120 ms later Claude drew
`❯ No, exit` again with no key read.) So a key is chosen only on a screen that has been still
for `QUIET` since it was drawn and since the last key.

Pure functions over screen lines and times.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

MARKER = "❯"
QUIET = 0.5  # seconds a dialog's screen must be still before a key is chosen on it
KEY_EFFECT_WAIT = 3.0  # how long a frame with nothing drawn since our key is left to show it
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


def newest(lines: Sequence[str], headings: Mapping[str, Sequence[str]]) -> tuple[str, int] | None:
    """The newest question on screen: the name and line of the bottom-most line holding one of
    its heading phrases (None: no question). Old frames and answered questions stand above it.

    >>> newest(['Trust?', '❯ No', 'Bypass?', '❯ No'], {'trust': ['Trust?'], 'bypass': ['Bypass?']})
    ('bypass', 2)
    >>> newest(['Trust?', 'Trust?', '❯ No'], {'trust': ['Trust?']})
    ('trust', 1)
    """
    for i in range(len(lines) - 1, -1, -1):
        for name, phrases in headings.items():
            if any(p in lines[i] for p in phrases):
                return name, i
    return None


def ready_for_key(now: float, *, last_output: float, last_key_at: float | None,
                  frame_unchanged: bool) -> float:
    """Seconds still to wait before a key may be chosen on the current frame (0: choose now).

    The screen must have been still for `QUIET` since it was last drawn and since our last
    key. A key whose effect has not shown (nothing drawn since it, the same frame) is given up
    to `KEY_EFFECT_WAIT` first; a key whose effect was drawn and then undone (Claude's remount
    redraws the frame we chose on) needs no more than the quiet time.

    >>> ready_for_key(10.0, last_output=9.8, last_key_at=None, frame_unchanged=False)
    0.3
    >>> ready_for_key(10.0, last_output=9.0, last_key_at=9.0, frame_unchanged=True)
    2.0
    >>> ready_for_key(10.0, last_output=9.2, last_key_at=9.0, frame_unchanged=True)
    0.0
    """
    still_since = max(last_output, last_key_at if last_key_at is not None else last_output)
    wait = QUIET - (now - still_since)
    if last_key_at is not None and frame_unchanged and last_output <= last_key_at:
        wait = max(wait, KEY_EFFECT_WAIT - (now - last_key_at))
    return round(max(0.0, wait), 6)


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
