"""Typing into the tool on a terminal: one editor for chat messages and for the task, where
Enter sends, Alt-Enter (or Esc, then Enter) starts a new line, and Up/Down walk the history.

A plain `readline()` on a terminal in cbreak mode would put Alt-Enter's raw ESC into the text
and leave the rest of a multi-line paste for the shell to run after exit.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, TextIO


def prompt_session(history_file: Path | None = None, stream: TextIO | None = None) -> Any:
    """A prompt_toolkit session with the multi-line keys (history kept in `history_file`, mode
    0600, across sessions; drawn on `stream`, stdout by default)."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory, History, InMemoryHistory
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.output import create_output

    history: History = InMemoryHistory()
    if history_file is not None and _own_file(history_file):
        history = FileHistory(str(history_file))
    keys = KeyBindings()

    @keys.add("escape", "enter")
    def _newline(event: Any) -> None:
        event.current_buffer.insert_text("\n")

    output = create_output(stdout=stream) if stream is not None else None
    return PromptSession(history=history, key_bindings=keys, prompt_continuation="...  ",
                         output=output)


def _own_file(path: Path) -> bool:
    """The history file as a regular file of this user's, private (made 0600 when missing;
    never through a link planted in its place, nor another user's file)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600))
        info = path.lstat()
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid() and not (
        info.st_mode & 0o077)
