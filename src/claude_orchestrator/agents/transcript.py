"""Reading Claude Code's session transcript (`transcript_path`, JSON lines): what a `!cmd`
printed (the screen shortens long output), and what a turn did: its tokens (no hook carries
them) and the tools it used (the commands it ran, the files it wrote)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claude_orchestrator.agents.claude import claude_normalise
from claude_orchestrator.agents.prices import Tokens

_BASH_INPUT = re.compile(r"<bash-input>(.*?)</bash-input>", re.S)
_BASH_OUT = re.compile(r"<bash-stdout>(.*?)</bash-stdout>", re.S)
_BASH_ERR = re.compile(r"<bash-stderr>(.*?)</bash-stderr>", re.S)


def entries(path: str | Path, offset: int = 0) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSON-lines file (Claude's transcript, Codex's and Gemini's
    session files) from byte `offset` on: a half-written last line is skipped."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            for line in f:
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    yield obj
    except OSError:
        return


def positive_int(d: dict[str, Any], key: str) -> int:
    """A count from a session file: a positive int, else 0."""
    value = d.get(key)
    return value if isinstance(value, int) and value > 0 else 0


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


def size(path: str | Path | None) -> int:
    """The transcript's size now: what a turn adds comes after it."""
    try:
        return Path(path).stat().st_size if path else 0
    except OSError:
        return 0


def _assistant_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(b.get("text", "")) for b in content
                       if isinstance(b, dict) and b.get("type") == "text")
    return ""


# Tools that write a file, and the input naming it.
FILE_TOOLS = {"Write": "file_path", "Edit": "file_path", "MultiEdit": "file_path",
              "NotebookEdit": "notebook_path"}


@dataclass(frozen=True)
class ToolUse:
    """One tool Claude used in a turn: its name, what it acted on (the command for Bash, the
    file for the file tools, else the first input value), and whether its result was an error
    (None when no result was written)."""

    tool: str
    detail: str
    failed: bool | None = None

    @property
    def writes_file(self) -> bool:
        return self.tool in FILE_TOOLS

    def as_dict(self) -> dict[str, Any]:
        return {"tool": self.tool, "detail": self.detail, "failed": self.failed}


@dataclass(frozen=True)
class TurnWork:
    """What one turn did, as Claude's transcript has it: its tokens (one entry per model), the
    tools it used, and whether the turn's last message is written yet."""

    tokens: list[Tokens] = field(default_factory=list)
    tools: list[ToolUse] = field(default_factory=list)
    done: bool = False


def _tool_detail(name: str, given: object) -> str:
    if not isinstance(given, dict):
        return ""
    key = FILE_TOOLS.get(name) or ("command" if name == "Bash" else None)
    value = given.get(key) if key else next(iter(given.values()), "")
    return str(value or "")[:2000]


def turn_work(path: str | Path, offset: int, *, prompt: str | None = None,
              reply: str | None = None, seen: set[str] | None = None) -> TurnWork:
    """One turn's tokens and tool uses, and whether its last message (the one whose text is
    `reply`) is in the transcript yet.

    The turn is found by meaning, not by position alone: its lines are those after its own
    prompt (the user line ending with `prompt`, after byte `offset`) up to the one holding its
    reply. Claude writes a turn 50-150 ms after its Stop hook (later on a busy machine), in an
    order that can put another turn's lines after `offset`. Without its prompt in the file
    (messages merged into one turn, a `!cmd`), the lines after `offset` count. Claude writes
    one assistant line per content block, each repeating its message's id and usage: each id
    counts once (across calls too, when `seen` is passed and kept); `<synthetic>` lines
    (errors) are not answers.
    """
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return TurnWork()
    lines = []
    for raw in data.splitlines():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if isinstance(entry, dict):
            lines.append(entry)
    wanted = claude_normalise(prompt) if prompt else ""
    start = 0
    if wanted:
        start = next((i + 1 for i, e in enumerate(lines)
                      if claude_normalise(user_text(e)).endswith(wanted)), 0)
    seen = set() if seen is None else seen
    by_model: dict[str, Tokens] = {}
    tools: dict[str, ToolUse] = {}
    results: dict[str, bool] = {}
    last = reply.strip() if reply else ""
    done = False
    for entry in lines[start:]:
        message = entry.get("message")
        if not isinstance(message, dict):
            continue
        if entry.get("type") == "user":
            for block in _blocks(message):
                if block.get("type") == "tool_result":
                    results[str(block.get("tool_use_id"))] = bool(block.get("is_error"))
            continue
        if entry.get("type") != "assistant":
            continue
        for block in _blocks(message):
            if block.get("type") == "tool_use":
                name = str(block.get("name") or "?")
                tools[str(block.get("id"))] = ToolUse(name, _tool_detail(name,
                                                                          block.get("input")))
        model = str(message.get("model") or "")
        mid = str(message.get("id") or "")
        usage = message.get("usage")
        if model != "<synthetic>" and mid and mid not in seen and isinstance(usage, dict):
            seen.add(mid)

            def count(key: str, u: dict[str, Any] = usage) -> int:
                value = u.get(key)
                return int(value) if isinstance(value, int) and value > 0 else 0

            add = Tokens(model, count("input_tokens"), count("output_tokens"),
                         count("cache_creation_input_tokens"), count("cache_read_input_tokens"))
            by_model[model] = by_model.get(model, Tokens(model)) + add
        if last and _assistant_text(message).strip() == last:
            done = True
            break
    used = [ToolUse(t.tool, t.detail, results.get(tid)) for tid, t in tools.items()]
    return TurnWork(list(by_model.values()), used, done)


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []
