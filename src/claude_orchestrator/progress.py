"""What the person sees while the tool works: one-line notes, and a live status line (what we
wait for, for how long) when stderr is a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import IO, Any, Protocol

from claude_orchestrator.screen import terminal_safe


@dataclass(frozen=True)
class RunEvent:
    """Something a person away from the terminal may want to hear of (notify.py sends it):
    a run ended (`end`), it waits for a person while running (`needs-you`), a usage-limit
    pause began (`pause`, until when) or ended (`pause-end`)."""

    kind: str
    run_id: str
    detail: str = ""
    until: datetime | None = None


class Activity(StrEnum):
    """What a run does now, decided where its status is: the run log's `activity`, which
    `runs --watch` shows as it is (the status line's wording is the person's, free to change)."""

    DELIVERING = "delivering"  # the message is on its way; Claude has not confirmed it yet
    WORKING = "working"
    SUPERVISOR = "supervisor"
    VERIFYING = "verifying"
    PAUSED_LIMIT = "paused: limit"
    PAUSED_PERSON = "paused: person"
    PAUSED_API = "paused: API failure"
    WAITING_QUESTION = "waiting: a question"


class Reporter(Protocol):
    """Where the layers below the drivers tell the person what happens."""

    def event(self, event: RunEvent) -> None:
        """A run's event, for notifications (nothing is shown for it)."""

    def note(self, message: str) -> None:
        """A permanent one-line note (a restart, an accepted dialog)."""

    def waiting(self, what: str, activity: Activity = Activity.WORKING) -> None:
        """Start (or change) the live status: what we wait for, and what the run does."""

    def idle(self) -> None:
        """Stop the live status."""

    def context(self, text: str) -> None:
        """What the driver adds in front of every status (e.g. turn, tokens, cost)."""

    def transcript(self, heading: str, text: str) -> None:
        """One step of the conversation as it happens (a message, a reply)."""


class QuietReporter:
    """Records notes; shows nothing (tests, `--json`, the library's default)."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.steps: list[tuple[str, str]] = []
        self.events: list[RunEvent] = []

    def event(self, event: RunEvent) -> None:
        self.events.append(event)

    def transcript(self, heading: str, text: str) -> None:
        self.steps.append((heading, text))

    def note(self, message: str) -> None:
        self.notes.append(message)

    def waiting(self, what: str, activity: Activity = Activity.WORKING) -> None:
        pass

    def idle(self) -> None:
        pass

    def context(self, text: str) -> None:
        pass


class ConsoleReporter:
    """Notes on stderr; on a terminal a transient status line (spinner, what we wait for, time
    elapsed) drawn by rich's own refresh thread, so the waiting code never wakes up for it."""

    def __init__(self, stream: IO[str] | None = None, *, live: bool | None = None,
                 show: Callable[[str], str] = terminal_safe, steps: bool = True) -> None:
        from rich.console import Console  # lazy: keeps `--help` fast

        self.show = show  # secrets out, control sequences visible
        self.steps = steps  # print the conversation as it happens
        self.console = Console(file=stream or sys.stderr, highlight=False, soft_wrap=True)
        self.live = self.console.is_terminal if live is None else live
        self._progress: Any = None
        self._task: Any = None
        self._what: str | None = None
        self._context = ""

    def context(self, text: str) -> None:
        self._context = text

    def event(self, event: RunEvent) -> None:
        pass

    def note(self, message: str) -> None:
        self.console.print(f"[orchestrator] {self.show(message)}", markup=False)

    def transcript(self, heading: str, text: str) -> None:
        if self.steps:
            self.console.file.write(f"── {heading} ──\n{self.show(text)}\n")
            self.console.file.flush()

    def waiting(self, what: str, activity: Activity = Activity.WORKING) -> None:
        """The status line: its text is data (a task, Claude's error), never rich markup:
        `[link=...]` or `[blink]` in it stays literal."""
        what = self.show(what)
        if self._context:
            what = f"{self._context} · {what}"
        if not self.live or what == self._what:
            return
        if self._progress is None:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                SpinnerColumn(), TextColumn("{task.description}", markup=False),
                TimeElapsedColumn(),
                console=self.console, transient=True, refresh_per_second=2)
            self._progress.start()
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(what)
        self._what = what

    def idle(self) -> None:
        if self._progress is not None:
            self._progress.stop()
        self._progress = self._task = self._what = None
