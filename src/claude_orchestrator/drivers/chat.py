"""Chat mode: a person types, Claude answers, the reply is printed. `/quit` or end of input ends.

On a terminal the prompt is prompt_toolkit's (history, editing); piped input is read line by
line so scripts can drive it. Ctrl-C while waiting cancels the wait (Claude goes on); Ctrl-C at
the prompt, or twice, ends with status 130.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from claude_orchestrator.agents import UnknownDialog
from claude_orchestrator.api import Session
from claude_orchestrator.drivers.terminal import prompt_session
from claude_orchestrator.errors import ConfigError
from claude_orchestrator.screen import terminal_safe

PROMPT = "you> "


class ChatInterrupted(Exception):
    """Ctrl-C at the prompt (or a second one while waiting): exit 130."""


def terminal_lines(history_file: Path | None = None) -> Iterator[str]:
    """Messages from a prompt_toolkit prompt (only used on a terminal): Enter sends, Alt-Enter
    (or Esc then Enter) starts a new line, Up/Down walk the history (kept in `history_file`,
    mode 0600, across sessions)."""
    prompt = prompt_session(history_file)
    while True:
        try:
            yield prompt.prompt(PROMPT)
        except EOFError:
            return
        except KeyboardInterrupt:
            raise ChatInterrupted from None


def piped_lines(stream: IO[str], out: IO[str]) -> Iterator[str]:
    """Plain lines from a pipe; the prompt is still printed so a transcript reads naturally."""
    while True:
        out.write(PROMPT)
        out.flush()
        try:
            line = stream.readline()
        except KeyboardInterrupt:
            raise ChatInterrupted from None
        except UnicodeDecodeError:
            raise ConfigError("standard input is not UTF-8 text") from None
        if not line:
            out.write("\n")
            return
        yield line.rstrip("\n")


def chat_loop(session: Session, lines: Iterator[str], out: IO[str], *,
              show: Callable[[str], str] = terminal_safe,
              on_cancel: Callable[[], None] | None = None) -> int:
    """Deliver each line, print each reply. Returns the exit status (0 for /quit or EOF).
    A usage limit or an API failure is waited out as in autonomous mode, and said so."""
    for line in lines:
        message = line.strip("\n")
        if message.strip() == "/quit":
            return 0
        if not message.strip():
            continue
        if session.nothing_to_send(message, literal=False):
            out.write("(nothing to send: the message is empty once control characters are "
                      "removed)\n")
            continue
        try:
            result = session.send(message, literal=False, source="chat")
        except KeyboardInterrupt:
            if on_cancel is not None:
                on_cancel()
            out.write("\n(wait cancelled; Claude goes on working. Ctrl-C at the prompt quits)\n")
            continue
        except UnknownDialog as dialog:
            out.write(show(f"{dialog}:\n{dialog.screen}") + "\n")
            out.write(f"Answer it in tmux: {session.attach_command}\n")
            session.agent.wait_ready(allow_unknown=True)
            continue
        if result.output is not None:
            output = result.output or "(the command printed nothing)"
            out.write(show(output.rstrip("\n")) + "\n")
        reply = result.reply if result.reply.strip() else "(no reply)"
        out.write(show(reply.rstrip("\n")) + "\n")
        out.flush()
        for prompt, answer, by_person in session.exchanges():
            who = ("at the pane, someone sent Claude" if by_person else
                   "Claude received text no one here sent (from its own terminal?)")
            out.write(show(f"({who}: {prompt.strip()})\n{answer.rstrip()}") + "\n")
    return 0


def stdin_lines(out: IO[str], history_file: Path | None = None) -> Iterator[str]:
    """The right line source for stdin: a prompt on a terminal, plain lines from a pipe."""
    if sys.stdin.isatty() and out.isatty():
        return terminal_lines(history_file)
    return piped_lines(sys.stdin, out)
