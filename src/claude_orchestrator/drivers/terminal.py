"""Typing into the tool on a terminal: one editor for chat messages and for the task, where
Enter sends, Alt-Enter (or Esc, then Enter) starts a new line, and Up/Down walk the history.

A plain `readline()` on a terminal in cbreak mode would put Alt-Enter's raw ESC into the text
and leave the rest of a multi-line paste for the shell to run after exit.
"""

from __future__ import annotations

import contextlib
import os
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
    if history_file is not None:
        with contextlib.suppress(OSError):
            history_file.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(history_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
            history = FileHistory(str(history_file))
    keys = KeyBindings()

    @keys.add("escape", "enter")
    def _newline(event: Any) -> None:
        event.current_buffer.insert_text("\n")

    output = create_output(stdout=stream) if stream is not None else None
    return PromptSession(history=history, key_bindings=keys, prompt_continuation="...  ",
                         output=output)
