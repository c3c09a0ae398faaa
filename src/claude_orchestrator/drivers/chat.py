"""Chat mode: a person types, Claude answers, the reply is printed. `/quit` or end of input ends.

On a terminal the prompt is prompt_toolkit's (history, editing); piped input is read line by
line so scripts can drive it. Ctrl-C while waiting cancels the wait (Claude goes on); Ctrl-C at
the prompt, or twice, ends with status 130.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from claude_orchestrator.agents import UnknownDialog
from claude_orchestrator.drivers.terminal import prompt_session
from claude_orchestrator.errors import ConfigError, OrchestratorError
from claude_orchestrator.screen import terminal_safe
from claude_orchestrator.session import AgentSession
from claude_orchestrator.turn.ledger import Exchange
from claude_orchestrator.turn.result import TurnResult

PROMPT = "you> "


class ChatSession(Protocol):
    """What chat needs of a session (`api.Session`, which sits above the drivers)."""

    @property
    def agent(self) -> AgentSession: ...

    @property
    def attach_command(self) -> str: ...

    def nothing_to_send(self, text: str, *, literal: bool = True) -> bool: ...

    def send(self, text: str, *, literal: bool = True, source: str = "api") -> TurnResult: ...

    def exchanges(self) -> list[Exchange]: ...


class ChatInterrupted(OrchestratorError):
    """Ctrl-C at the prompt (or a second one while waiting): exit 130."""

    exit_status = 130


@dataclass(frozen=True)
class WebLine:
    """A message from the web page (`serve --allow-send`), taken from the chat's inbox."""

    text: str


WAKE = WebLine("")  # the prompt gave way to messages from the inbox: take them first
_WOKEN = object()


class Waker:
    """Lets the inbox's thread end the prompt that waits, so a message from the page is
    delivered at once (the person's half-typed text comes back in the next prompt)."""

    def __init__(self) -> None:
        self.app: Any = None
        self.pending = threading.Event()

    def wake(self) -> None:
        self.pending.set()
        app = self.app
        if app is not None and app.is_running:
            app.loop.call_soon_threadsafe(self._exit, app)

    def _exit(self, app: Any) -> None:
        if app.is_running and not app.is_done:
            app.exit(result=_WOKEN)

    def check(self) -> None:
        """Run as the prompt starts: a message that came before it ends it at once."""
        if self.pending.is_set() and self.app is not None:
            self._exit(self.app)


class Inbox(Protocol):
    def take(self) -> list[str]: ...


def terminal_lines(history_file: Path | None = None,
                   waker: Waker | None = None) -> Iterator[str | WebLine]:
    """Messages from a prompt_toolkit prompt (only used on a terminal): Enter sends, Alt-Enter
    (or Esc then Enter) starts a new line, Up/Down walk the history (kept in `history_file`,
    mode 0600, across sessions). `waker` ends the prompt when a message from the page came."""
    prompt = prompt_session(history_file)
    typed = ""
    while True:
        if waker is not None:
            waker.app = prompt.app
        try:
            got = prompt.prompt(PROMPT, default=typed,
                                pre_run=waker.check if waker is not None else None)
        except EOFError:
            return
        except KeyboardInterrupt:
            raise ChatInterrupted from None
        finally:
            if waker is not None:
                waker.app = None
        if got is _WOKEN and waker is not None:
            typed = prompt.default_buffer.text
            waker.pending.clear()
            yield WAKE
            continue
        typed = ""
        yield got


def with_inbox(lines: Iterator[str | WebLine], inbox: Inbox) -> Iterator[str | WebLine]:
    """The person's lines, with the page's messages before each (between turns)."""
    while True:
        for text in inbox.take():
            yield WebLine(text)
        line = next(lines, None)
        if line is None:
            return
        if line is not WAKE:
            yield line


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


def chat_loop(session: ChatSession, lines: Iterator[str | WebLine], out: IO[str], *,
              show: Callable[[str], str] = terminal_safe,
              on_cancel: Callable[[], None] | None = None) -> int:
    """Deliver each line, print each reply. Returns the exit status (0 for /quit or EOF).
    A usage limit or an API failure is waited out as in autonomous mode, and said so. A
    message from the page (`WebLine`) is shown, then delivered as text (a `/` in it is never
    a command)."""
    for line in lines:
        web = isinstance(line, WebLine)
        message = (line.text if isinstance(line, WebLine) else line).strip("\n")
        if web:
            out.write(show(f"(from the web page) {message}") + "\n")
        elif message.strip() == "/quit":
            return 0
        if not message.strip():
            continue
        if session.nothing_to_send(message, literal=web):
            out.write("(nothing to send: the message is empty once control characters are "
                      "removed)\n")
            continue
        try:
            result = session.send(message, literal=web, source="web" if web else "chat")
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


def stdin_lines(out: IO[str], history_file: Path | None = None,
                waker: Waker | None = None) -> Iterator[str | WebLine]:
    """The right line source for stdin: a prompt on a terminal, plain lines from a pipe."""
    if sys.stdin.isatty() and out.isatty():
        return terminal_lines(history_file, waker)
    return piped_lines(sys.stdin, out)
