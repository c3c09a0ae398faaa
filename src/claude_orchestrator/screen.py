"""Pure text functions over what tmux shows: clean a capture, find what is new, sanitise input.

Nothing here touches a process, so all of it is unit-tested with plain strings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), DCS/PM/APC strings, and two-byte escapes.
_ANSI_RE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
    r"|\x1b[PX^_][^\x1b]*\x1b\\"
    r"|\x1b[()*+#%]."
    r"|\x1b[0-9=<>]"
    r"|\x1b[@-Z\\-_]"
)
# C0 controls but tab and newline, DEL, and C1 controls.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


def strip_ansi(text: str) -> str:
    """Remove terminal escape sequences.

    >>> strip_ansi('\\x1b[1;32mok\\x1b[0m \\x1b]0;title\\x07done')
    'ok done'
    """
    return _ANSI_RE.sub("", text)


def clean(text: str) -> str:
    """A capture made readable: no escapes, no control characters, no trailing spaces.

    Indentation and blank lines inside the text are kept exactly (code stays code); only blank
    lines at the start and the end are dropped.

    >>> clean('\\x1b[1mdef f():\\x1b[0m   \\n\\n    return 1\\n\\n\\n')
    'def f():\\n\\n    return 1'
    """
    text = strip_ansi(text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [_CONTROL_RE.sub("", line.replace("\t", "    ")).rstrip() for line in
             text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines)


def sanitize_message(text: str) -> str:
    """What we may type into an agent: newline and tab kept, other control characters dropped.

    Escape sequences are removed as a whole (a stray ESC would otherwise start a key sequence
    in the agent's TUI); CRLF and CR become LF.

    >>> sanitize_message('a\\tb\\r\\nc\\x1b[31md\\x07\\x00')
    'a\\tb\\ncd'
    """
    text = strip_ansi(text.replace("\r\n", "\n").replace("\r", "\n"))
    return _CONTROL_RE.sub("", text)


_UNSAFE_FOR_TERMINAL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """Text fit to print in a terminal: every control character (ESC, CR, BEL...) and bidi
    override is shown as an escape (`\\x1b`), never executed, so a reply cannot write the
    clipboard (OSC 52), retitle the window or redraw the screen. Newline and tab stay.

    >>> terminal_safe('ok\\x1b]52;c;Zm9v\\x07\\tdone\\r\\n')
    'ok\\\\x1b]52;c;Zm9v\\\\x07\\tdone\\\\x0d\\n'
    """
    def shown(m: re.Match[str]) -> str:
        code = ord(m.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _UNSAFE_FOR_TERMINAL.sub(shown, text)


def new_lines(before: Sequence[str], after: Sequence[str]) -> list[str]:
    """The lines of `after` that were not in `before`.

    A full-screen agent redraws its bottom block (input box, footer), so `after` starts with a
    run of `before`'s lines and differs below it. That run usually starts at `before`'s top, but
    starts later when the scrollback was trimmed: we take the start in `before` that gives the
    longest run (the earliest on a tie).

    >>> new_lines(['a', 'b', '> '], ['a', 'b', '> hi', 'reply', '> '])
    ['> hi', 'reply', '> ']
    >>> new_lines(['', 'old', '', 'kept', '> '], ['', 'kept', '> hi', 'new', '> '])
    ['> hi', 'new', '> ']
    """
    if not after:
        return []
    best = 0
    for start in range(len(before)):
        if before[start] != after[0]:
            continue
        k = 0
        while (start + k < len(before) and k < len(after)
               and before[start + k] == after[k]):
            k += 1
        if k > best:
            best = k
    return list(after[best:])


def trim_middle(text: str, limit: int) -> str:
    """Keep the start and the end of a long text, with a marker saying how much was cut.

    The middle of a long reply is the least informative part (the start says what was done, the
    end says how it went), and the marker tells the reader that something is missing.

    >>> trim_middle('0123456789' * 10, 60)
    '0123456789\\n[... 80 characters omitted ...]\\n0123456789'
    """
    if len(text) <= limit:
        return text
    keep = max(limit - 40, 2)
    head, tail = keep // 2, keep - keep // 2
    omitted = len(text) - head - tail
    return f"{text[:head]}\n[... {omitted} characters omitted ...]\n{text[len(text) - tail:]}"
