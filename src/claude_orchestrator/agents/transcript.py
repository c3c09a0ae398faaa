"""Reading Claude Code's session transcript (`transcript_path`, JSON lines): what a `!cmd`
printed. The screen shortens long output; the transcript has all of it."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_BASH_INPUT = re.compile(r"<bash-input>(.*?)</bash-input>", re.S)
_BASH_OUT = re.compile(r"<bash-stdout>(.*?)</bash-stdout>", re.S)
_BASH_ERR = re.compile(r"<bash-stderr>(.*?)</bash-stderr>", re.S)


def entries(path: str | Path) -> Iterator[dict[str, Any]]:
    """The transcript's JSON objects (a half-written last line is skipped)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    yield obj
    except OSError:
        return


def user_text(entry: dict[str, Any]) -> str:
    """The text of a user entry (string content or text blocks), else ''."""
    if entry.get("type") != "user":
        return ""
    message = entry.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(b.get("text", "")) for b in content
                       if isinstance(b, dict) and b.get("type") == "text")
    return ""


def find_bash_output(lines: list[dict[str, Any]], command: str) -> str | None:
    """Stdout then stderr of the last run of `command` in these transcript entries.

    >>> find_bash_output([{'type': 'user', 'message': {'content': '<bash-input>ls</bash-input>'}},
    ...                   {'type': 'user', 'message': {'content':
    ...                    '<bash-stdout>a\\nb</bash-stdout><bash-stderr></bash-stderr>'}}], 'ls')
    'a\\nb'
    """
    texts = [user_text(e) for e in lines]
    for i in range(len(texts) - 1, -1, -1):
        m = _BASH_INPUT.search(texts[i])
        if not m or m.group(1).strip() != command.strip():
            continue
        for later in texts[i:]:
            out, err = _BASH_OUT.search(later), _BASH_ERR.search(later)
            if out or err:
                parts = [p.group(1).rstrip("\n") for p in (out, err) if p and p.group(1).strip()]
                return "\n".join(parts)
        return None
    return None


def bash_output(path: str | Path, command: str, wait: float = 1.0) -> str | None:
    """What `!command` printed, as the transcript recorded it (None when it is not there
    within `wait` seconds: Claude writes it around the end of that turn)."""
    deadline = time.monotonic() + wait
    while True:
        found = find_bash_output(list(entries(path)), command)
        if found is not None or time.monotonic() >= deadline:
            return found
        time.sleep(0.05)
