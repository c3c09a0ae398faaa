"""Claude Code's hooks as an event channel: a settings file whose hooks append each event's JSON
payload to a file and poke a FIFO, so the orchestrator sleeps until something happens.

The hook command is a plain shell line (a python hook costs ~55 ms more per event). It never
blocks Claude: the FIFO is opened read-write (`1<>`), which does not wait for a reader, and only if
it still is a FIFO. It prints nothing (stdout of UserPromptSubmit and SessionStart hooks becomes
context for the model) and always exits 0 (exit 2 would block the prompt).
The events file stays the record: after a crash of the orchestrator, the reply to an in-flight
message is still in it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from claude_orchestrator.runtime.state import open_private, write_private


class HookName(StrEnum):
    """The hook events the orchestrator acts on, by Claude Code's own names."""

    SESSION_START = "SessionStart"
    USER_PROMPT_SUBMIT = "UserPromptSubmit"
    STOP = "Stop"
    STOP_FAILURE = "StopFailure"
    SESSION_END = "SessionEnd"
    NOTIFICATION = "Notification"


@dataclass(frozen=True)
class HookEvent:
    """One hook payload as Claude sent it, ending at byte `pos` of the events file: its
    position is what makes "after our paste" a fact. `name` is what the payload says (compare
    it with a `HookName`); a name we do not act on is kept, not refused."""

    pos: int
    name: str
    payload: dict[str, Any] = field(hash=False, compare=False)
    # Set by the session as it reads a UserPromptSubmit, never from the file (the code Claude
    # runs can append anything there): a person's terminal was attached and active then.
    by_person: bool = field(default=False, compare=False)

    @property
    def session_id(self) -> str | None:
        value = self.payload.get("session_id")
        return value if isinstance(value, str) else None


def hook_command(events: Path, wake: Path) -> str:
    """The shell line each hook runs (payload on stdin)."""
    e, w = shlex.quote(str(events)), shlex.quote(str(wake))
    return (f"{{ cat; echo; }} >> {e} 2>/dev/null; "
            f"[ -p {w} ] && printf . 1<>{w} 2>/dev/null; exit 0")


def merge_settings(user: dict[str, Any], command: str,
                   events: Sequence[str]) -> dict[str, Any]:
    """The user's own settings with our hook added to each event we listen to (only events the
    running agent knows: an unknown name makes Claude stop at a "Settings Warning" dialog).

    >>> merge_settings({'model': 'x'}, 'c', ['Stop'])['hooks']['Stop']
    [{'hooks': [{'type': 'command', 'command': 'c'}]}]
    """
    merged = dict(user)
    hooks = dict(merged.get("hooks") or {})
    for name in events:
        entries = list(hooks.get(name) or [])
        entries.append({"hooks": [{"type": "command", "command": command}]})
        hooks[name] = entries
    merged["hooks"] = hooks
    return merged


def settings_in_force(argv: Sequence[str], user_settings: dict[str, Any], home: Path,
                      workdir: Path) -> list[dict[str, Any]]:
    """The settings documents Claude will read besides ours: the `--settings` the user gave,
    their user settings, and the project's unless `--setting-sources` leaves them out."""
    sources = "user,project,local"
    for i, arg in enumerate(argv):
        if arg == "--setting-sources" and i + 1 < len(argv):
            sources = argv[i + 1]
        elif arg.startswith("--setting-sources="):
            sources = arg.split("=", 1)[1]
    files = []
    if "user" in sources:
        files.append(home / ".claude" / "settings.json")
    if "project" in sources:
        files.append(workdir / ".claude" / "settings.json")
    if "local" in sources:
        files.append(workdir / ".claude" / "settings.local.json")
    found = [user_settings]
    for path in files:
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                found.append(data)
    return found


def other_stop_hooks(found: Sequence[dict[str, Any]]) -> bool:
    """Whether Stop hooks other than ours are configured (in `settings_in_force`): such a hook
    can make Claude go on after a Stop (exit 2), so a Stop is then only the end once the screen
    agrees."""
    return any(isinstance(d.get("hooks"), dict) and d["hooks"].get(HookName.STOP) for d in found)


def split_user_settings(argv: Sequence[str]) -> tuple[list[str], dict[str, Any]]:
    """Take `--settings X` (a file or inline JSON) out of the user's command, returning the rest
    and the settings it named, so ours can be merged into one `--settings`."""
    rest: list[str] = []
    settings: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        value: str | None = None
        if arg == "--settings" and i + 1 < len(argv):
            value = argv[i + 1]
            i += 2
        elif arg.startswith("--settings="):
            value = arg.split("=", 1)[1]
            i += 1
        else:
            rest.append(arg)
            i += 1
            continue
        text = value
        if not value.lstrip().startswith("{"):
            with contextlib.suppress(OSError):
                text = Path(value).expanduser().read_text(encoding="utf-8")
        try:
            loaded = json.loads(text)
        except ValueError:
            loaded = {}
        if isinstance(loaded, dict):
            settings.update(loaded)
    return rest, settings


class HookChannel:
    """The events file, the FIFO and the settings file of one agent session. An agent whose
    hooks have other names or shapes than Claude's gives `event_map`: each pass over the file
    reads its events through a fresh map (agents/base.py EventMap)."""

    def __init__(self, folder: Path,
                 event_map: Callable[[], Callable[[HookEvent], list[HookEvent]]] | None = None
                 ) -> None:
        """`folder` is the session's private state folder (runtime/state.py)."""
        self.folder = folder
        self._new_map = event_map or (lambda: (lambda event: [event]))
        self._map = self._new_map()
        self.events_path = folder / "events.jsonl"
        self.wake_path = folder / "wake"
        self.settings_path = folder / "settings.json"
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISFIFO(self.wake_path.lstat().st_mode):
                self.wake_path.unlink()
        with contextlib.suppress(FileExistsError):
            os.mkfifo(self.wake_path, 0o600)
        # Read-write: never blocks on open, and select() never sees EOF when no writer is left.
        self.wake_fd = open_private(self.wake_path, os.O_RDWR | os.O_NONBLOCK)
        os.close(open_private(self.events_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND))
        self._offset = self.events_path.stat().st_size

    def write_settings(self, user_settings: dict[str, Any], events: Sequence[str],
                       own: dict[str, Any] | None = None) -> Path:
        """The `--settings` file for Claude: the user's settings plus our hooks and the
        profile's `own` settings on top (mode 0600)."""
        data = merge_settings({**user_settings, **(own or {})},
                              hook_command(self.events_path, self.wake_path), events)
        tmp = self.settings_path.with_suffix(".tmp")
        write_private(tmp, json.dumps(data, indent=1).encode())
        os.replace(tmp, self.settings_path)
        return self.settings_path

    def drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while os.read(self.wake_fd, 4096):
                pass

    def mark(self) -> int:
        """The current end of what was read (events after it are new)."""
        return self._offset

    def size(self) -> int:
        """The events file's size now: an event written later ends beyond it."""
        try:
            return self.events_path.stat().st_size
        except FileNotFoundError:
            return 0

    def read_new(self) -> list[HookEvent]:
        """Events appended since the last read. A half-written payload waits for the rest."""
        self.drain_wake()
        events, self._offset = self._read_from(self._offset)
        return [out for ev in events for out in self._map(ev)]

    def read_all(self, start: int = 0) -> list[HookEvent]:
        """Every event after byte `start` (for resuming after the orchestrator died)."""
        mapping = self._new_map()
        return [out for ev in self._read_from(start)[0] for out in mapping(ev)]

    def _read_from(self, offset: int) -> tuple[list[HookEvent], int]:
        try:
            fd = open_private(self.events_path, os.O_RDONLY)
        except FileNotFoundError:
            return [], offset
        with os.fdopen(fd, "rb") as f:
            f.seek(offset)
            data = f.read()
        if not data:
            return [], offset
        # surrogateescape: odd bytes round-trip exactly, so byte offsets stay right.
        text = data.decode("utf-8", errors="surrogateescape")
        return parse_events(text, offset)

    def close(self) -> None:
        if self.wake_fd >= 0:  # closed once: a second close could hit a reused descriptor
            with contextlib.suppress(OSError):
                os.close(self.wake_fd)
            self.wake_fd = -1

    def mask_record(self, mask: Callable[[bytes], bytes]) -> None:
        """Overwrite the secrets in the events file kept for `resume` (Claude may have printed
        a key into a reply), in place and byte for byte: positions stay right, and events a
        still running Claude appends meanwhile are not touched."""
        try:
            fd = open_private(self.events_path, os.O_RDWR)
        except OSError:
            return
        try:
            data = b""
            while chunk := os.pread(fd, 1 << 20, len(data)):
                data += chunk
            masked = mask(data)
            if masked == data or len(masked) != len(data):
                return
            start = 0
            while start < len(data):
                if masked[start] == data[start]:
                    start += 1
                    continue
                end = start
                while end < len(data) and masked[end] != data[end]:
                    end += 1
                os.pwrite(fd, masked[start:end], start)
                start = end
        finally:
            os.close(fd)


def parse_events(text: str, base: int = 0) -> tuple[list[HookEvent], int]:
    """JSON objects one after another (whitespace between), `text` starting at byte `base` of
    the file. Returns the events, each with the byte position where it ends, and the byte
    offset up to which the text was consumed: a half-written object at the end is read again.

    >>> evs, used = parse_events('{"hook_event_name": "Stop", "x": 1}\\n{"hook_ev', 100)
    >>> [(e.name, e.pos) for e in evs], used
    ([('Stop', 135)], 136)
    """
    decoder = json.JSONDecoder()
    events: list[HookEvent] = []
    pos = 0
    n = len(text)

    counted = [0, base]  # (characters, bytes) counted so far: positions move forward only

    def at(i: int) -> int:
        counted[1] += len(text[counted[0]:i].encode("utf-8", errors="surrogateescape"))
        counted[0] = i
        return counted[1]

    while True:
        while pos < n and text[pos] in " \t\r\n":
            pos += 1
        if pos >= n:
            return events, at(pos)
        try:
            obj, end = decoder.raw_decode(text, pos)
        except ValueError:
            nl = text.find("\n", pos)
            if nl < 0:
                return events, at(pos)  # incomplete: wait for the rest
            pos = nl + 1  # a garbled line: skip it
            continue
        pos = end
        if isinstance(obj, dict):
            name = obj.get("hook_event_name")
            events.append(HookEvent(at(end), str(name) if name else "", obj))
