"""The seam between a turn's driver and the live agent: what the driver needs of the pane, of
the wait for something to happen, and of the session around them. `session.AgentSession`
provides it over tmux; the unit tests' simulated Claude (tests/unit/sim_claude.py) provides it
over a model, so hypothesis explores the driver that ships, not a copy of it.
"""

from __future__ import annotations

from typing import Protocol

from claude_orchestrator.agents.base import Agent
from claude_orchestrator.config import Config
from claude_orchestrator.progress import Reporter
from claude_orchestrator.runtime.hooks import HookChannel, HookEvent
from claude_orchestrator.runtime.tmux import PaneStatus
from claude_orchestrator.runtime.watch import Activity
from claude_orchestrator.turn.ledger import Ledger


class Pane(Protocol):
    """The agent's pane (runtime.tmux.TmuxRuntime): raises `TmuxError` when tmux fails."""

    def status(self) -> PaneStatus: ...

    def capture(self, *, history: int | None = 0) -> list[str]: ...

    def person_idle(self) -> float | None: ...

    def press(self, *keys: str) -> None: ...

    def paste(self, text: str, *, then_enter: bool = False) -> None: ...


class Watch(Protocol):
    """Sleeping until something happens (runtime.watch.Watcher)."""

    people_maybe: bool  # a person's terminal may be attached: ask tmux before a paste

    @property
    def last_output(self) -> float:
        """When the pane last drew (the driver's clock)."""

    def wait(self, timeout: float) -> Activity: ...


class Live(Protocol):
    """The live agent as one turn's driver sees it."""

    @property
    def runtime(self) -> Pane: ...

    @property
    def watcher(self) -> Watch: ...

    @property
    def reporter(self) -> Reporter: ...

    @property
    def ledger(self) -> Ledger:
        """The agent's turns as its hooks reported them before this turn."""

    @property
    def deadline(self) -> float | None:
        """When the run's time budget ends (the driver's clock), if it has one."""

    @property
    def attach_command(self) -> str: ...

    def read_events(self) -> list[HookEvent]:
        """Hook events written since the last read."""

    def events_mark(self) -> int:
        """Where the hook record ends now."""

    def adopt_ledger(self, ledger: Ledger) -> None:
        """The ledger as the turn left it."""


class LiveSession(Live, Protocol):
    """What delivering a message needs besides: the agent's profile and settings, and its
    recovery (start or restart it, resuming the conversation)."""

    @property
    def agent(self) -> Agent: ...

    @property
    def config(self) -> Config: ...

    @property
    def channel(self) -> HookChannel | None: ...

    @property
    def session_id(self) -> str | None: ...

    @property
    def starts(self) -> int: ...

    @property
    def hooks_reporting(self) -> bool: ...

    @property
    def stop_hooks_elsewhere(self) -> bool: ...

    def ensure_ready(self) -> PaneStatus | None: ...
