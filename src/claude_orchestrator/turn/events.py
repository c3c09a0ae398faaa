"""What the turn machine is told (events) and what it asks for (actions): plain data, each a
closed union (`Event`, `Action`) that the machine and its driver match exhaustively.

Every event carries what makes it a fact rather than a guess: a hook event its position in the
events file, a screen frame the time the pane last drew before it was taken. Times are the
driver's monotonic clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from claude_orchestrator.progress import Activity
from claude_orchestrator.runtime.hooks import HookEvent
from claude_orchestrator.turn.result import EndedBy

# ----------------------------------------------------------------------------- events
Hook = HookEvent  # one hook payload, ending at byte `pos` of the events file


@dataclass(frozen=True)
class Frame:
    """One capture of the pane: its lines (with scrollback when asked), the time the pane last
    drew before it was taken, and the pane's scrollback size then."""

    lines: tuple[str, ...]
    drawn_at: float
    history_size: int = 0
    with_history: bool = False
    # A person's terminal attached to the session: seconds since they last typed there (None:
    # nobody is attached, or it was not asked).
    person_idle: float | None = None
    n: int = 0  # the capture it answers (a frame asked for before the latest capture is stale)


@dataclass(frozen=True)
class Drew:
    """The pane drew something (a `%output` from the control client)."""

    at: float


@dataclass(frozen=True)
class Pasted:
    """Our paste went in; hook events after byte `mark` of the events file came after it."""

    mark: int


@dataclass(frozen=True)
class Died:
    """The agent's process exited, or its tmux session or server went away."""

    reason: str


@dataclass(frozen=True)
class Tick:
    """Time passed (the machine asked to be woken)."""


Event = Hook | Frame | Drew | Pasted | Died | Tick


# ----------------------------------------------------------------------------- actions
@dataclass(frozen=True)
class Capture:
    """Take a frame now (answered with a Frame event). `history_from`: include the scrollback
    that grew since the pane's history had this size (the whole turn, for a screen reply)."""

    history_from: int | None = None
    people: bool = False  # also ask tmux who is attached (before a paste)
    n: int = 0  # its number: the frame it gives carries it back


@dataclass(frozen=True)
class ClearInput:
    """Empty the agent's input box (text a person left there would be sent with ours)."""


@dataclass(frozen=True)
class Paste:
    """Paste this text as one bracketed paste (answered with a Pasted event)."""

    text: str


@dataclass(frozen=True)
class Press:
    """Press one key, by its tmux name (`Enter`, `Escape`)."""

    key: str


@dataclass(frozen=True)
class Tell:
    """A one-line note for the person; `where` adds how to reach the pane (to answer it)."""

    message: str
    where: bool = False


@dataclass(frozen=True)
class Status:
    """What the live status line says we wait for, and what the run does meanwhile."""

    what: str
    activity: Activity = Activity.WORKING


class TurnOutcome(StrEnum):
    """How a turn ended, as far as its driver must act on it."""

    ENDED = "ended"  # a reply, or the screen's account of the turn
    LOST = "lost"  # the agent died; `TurnEnd.delivered` says whether the message was submitted
    UNDELIVERABLE = "undeliverable"  # cannot be delivered as written; `TurnEnd.error` says why


@dataclass(frozen=True)
class TurnEnd:
    """How the turn ended: its outcome, and how the end was known (None: undeliverable)."""

    outcome: TurnOutcome
    ended_by: EndedBy | None = None
    reply: str = ""
    error: str = ""  # why undeliverable / why the agent was lost / StopFailure's error kind
    delivered: bool = False
    received: str | None = None
    prompt_id: str | None = None
    confirmed_at: float | None = None
    ended_at: float | None = None
    enters: int = 0
    pastes: int = 0
    notes: tuple[str, ...] = ()
    events: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finish:
    """The turn is over."""

    end: TurnEnd


Action = Capture | ClearInput | Paste | Press | Tell | Status | Finish
