"""The turn machine's state and the helpers every part of it shares: when to be woken next, how
a turn ends. Pure data and pure functions (machine.py says how the parts fit)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import assert_never

from claude_orchestrator.agents.base import Agent, Kind
from claude_orchestrator.errors import TurnMachineError
from claude_orchestrator.turn.events import Action, Capture, Finish, Frame, TurnEnd, TurnOutcome
from claude_orchestrator.turn.ledger import Ledger, Waiting
from claude_orchestrator.turn.result import EndedBy

Step = tuple["TurnState", list[Action]]


class Phase(enum.Enum):
    LOOK = "look"
    QUESTION = "question"
    PERSON = "person"  # a person types at the pane: wait until they stop
    ECHO = "echo"
    SUBMIT = "submit"
    WORK = "work"
    REDELIVER = "redeliver"
    DONE = "done"


class Look(StrEnum):
    """Why a capture was asked for, when the phase alone does not say what its frame is for
    (before a paste, every frame is looked at the same way: no `Look`)."""

    ECHO = "echo"  # does the paste show in the input box?
    CONFIRM = "confirm"  # was Enter taken (the box emptied, the agent busy)?
    SCREEN = "screen"  # the screen path: is the turn over?
    STOP = "stop"  # a Stop came; does the screen agree (other Stop hooks)?
    IDLE_TIMEOUT = "idle-timeout"  # nothing for --idle-timeout: idle, or a long tool call?
    WATCHDOG = "watchdog"  # the screen has not drawn for a while: idle without a Stop?


@dataclass(frozen=True)
class Timing:
    """The machine's waits, in seconds (measured on the real CLI; see the notes)."""

    echo_wait: float = 0.5  # Enter anyway when the paste's echo is not seen by then
    first_look: float = 0.3  # UserPromptSubmit comes ~0.09 s after Enter
    confirm_wait: float = 1.0  # then look for a swallowed Enter this often (growing)
    max_enters: int = 4
    no_submit_grace: float = 10.0  # idle, box empty, no submit this long: it did not arrive
    quiet_check: float = 2.0  # watchdog: look at a screen that has not drawn for this long
    idle_grace: float = 1.0  # ... and once more after this before calling a turn over
    stop_settle: float = 0.5  # with other Stop hooks: the screen must be still this long
    settle_quiet: float = 0.15  # screen path: quiet before we take the "before" screen
    settle_limit: float = 5.0
    empty_grace: float = 3.0  # screen path: an agent that says nothing yet may be thinking
    draw_pause: float = 0.05  # look once the drawing pauses this long


@dataclass(frozen=True)
class TurnSpec:
    """What one turn delivers, to which agent, under which limits."""

    message: str  # as the driver gave it
    text: str  # exactly what is pasted (the profile's prepare)
    kind: Kind
    profile: Agent
    idle_timeout: float
    stable_window: float
    stop_hooks_elsewhere: bool = False  # a user's Stop hook can send Claude back to work
    attach_idle: float = 120.0  # a person at the pane counts as typing until idle this long
    timing: Timing = field(default_factory=Timing)


@dataclass(frozen=True)
class TurnState:
    spec: TurnSpec
    phase: Phase
    ledger: Ledger
    started: float
    drawn_at: float  # when the pane last drew
    wake_at: float | None = None
    look: Look | None = None  # why the pending capture was taken
    captures: int = 0  # the number of the latest capture asked for (older frames are stale)
    before: Frame | None = None
    judged: float = -1.0  # the still screen (by drawing time) already looked at
    question_since: float | None = None
    asker_busy_at: float | None = None  # the question was answered; its turn goes on (seen then)
    mark: int | None = None  # events-file position of our latest paste
    first_mark: int | None = None  # ... and of the first one (a late submit of it counts)
    pastes: int = 0
    enters: int = 0
    entered_at: float = 0.0  # the first Enter
    echo_drawn: bool = False
    echo_deadline: float = 0.0
    pasted_at: float = 0.0  # Enter waits `profile.paste_settle` after this
    confirm_at: float = 0.0
    confirmed_at: float | None = None
    received: str | None = None
    prompt_id: str | None = None
    waiting: Waiting | None = None  # the turns ahead of ours (hook path)
    garbled: Waiting | None = None  # a garbled copy's turn: deliver again after it
    by_screen: bool = False  # the end is the screen's to decide
    stop: TurnEnd | None = None  # a Stop the screen must confirm (other Stop hooks)
    idle_at: float | None = None  # watchdog: the idle prompt seen (drawing time)
    idle_look_at: float = 0.0
    busy_at: float = 0.0  # idle timeout: the screen said busy at this time
    asked: bool = False  # told the person about a question mid-turn
    person_look_at: float = 0.0  # when to look again at a person typing at the pane
    notes: tuple[str, ...] = ()
    seen: tuple[str, ...] = ()


def ask(s: TurnState, look: Look | None, *, history_from: int | None = None,
        people: bool = False) -> tuple[TurnState, Capture]:
    """A capture, numbered: only its frame is judged (one asked for earlier, still on its way
    when hook events moved the phase on, is stale and changes nothing)."""
    n = s.captures + 1
    return replace(s, look=look, captures=n), Capture(history_from, people, n)


def schedule(s: TurnState, now: float) -> TurnState:
    """When to be woken if nothing happens: the earliest check that is due."""
    t = s.spec.timing
    due: list[float] = []
    match s.phase:
        case Phase.LOOK:
            # Once the screen has been quiet that long (a busy screen that does not redraw
            # is looked at again that often, not at once and again: the driver would spin).
            settled = s.drawn_at + t.settle_quiet
            due.append(settled if settled > now else now + t.settle_quiet)
        case Phase.PERSON:
            due.append(s.person_look_at)
        case Phase.QUESTION if s.asker_busy_at is not None:
            due.append(s.asker_busy_at + 1.0)  # its Stop wakes us at once; the screen is a check
        case Phase.QUESTION:
            assert s.question_since is not None
            due += [s.question_since + s.spec.idle_timeout]
            if s.drawn_at > s.judged:
                due.append(s.drawn_at + t.draw_pause)
        case Phase.ECHO:
            due.append(s.echo_deadline)
            if s.echo_drawn:
                due.append(max(s.drawn_at + 0.03, s.pasted_at + s.spec.profile.paste_settle))
        case Phase.SUBMIT:
            due.append(s.confirm_at)
            if s.spec.kind is Kind.SCREEN and s.drawn_at > s.judged:
                due.append(s.drawn_at + t.draw_pause)
        case Phase.WORK | Phase.REDELIVER:
            due += _work_due(s, now)
        case Phase.DONE:
            raise after_the_end("a wake-up")
        case _:
            assert_never(s.phase)
    return replace(s, wake_at=min(due) if due else None)


def _work_due(s: TurnState, now: float) -> list[float]:
    t = s.spec.timing
    if s.by_screen:
        if s.drawn_at != s.judged:
            return [s.drawn_at + s.spec.stable_window]
        return [x for x in (s.drawn_at + t.empty_grace, s.drawn_at + s.spec.idle_timeout)
                if x > now]
    if s.stop is not None:
        return [s.drawn_at + t.stop_settle]
    due = []
    if s.idle_at is not None:
        due.append(s.idle_look_at)
    elif s.drawn_at > s.judged:
        due.append(s.drawn_at + t.quiet_check)
    due.append(max(s.drawn_at, s.busy_at) + s.spec.idle_timeout)
    return due


def after_the_end(what: str) -> TurnMachineError:
    return TurnMachineError(f"the turn machine was given {what} after the turn ended")


# ----------------------------------------------------------------------------- endings
def end_of(s: TurnState, outcome: TurnOutcome, ended_by: EndedBy | None, reply: str,
           now: float, *, error: str = "", ended_at: float | None = None) -> TurnEnd:
    return TurnEnd(outcome=outcome, ended_by=ended_by, reply=reply, error=error,
                   delivered=s.confirmed_at is not None or outcome is TurnOutcome.ENDED,
                   received=s.received, prompt_id=s.prompt_id, confirmed_at=s.confirmed_at,
                   ended_at=now if ended_at is None else ended_at, enters=s.enters,
                   pastes=s.pastes, notes=s.notes, events=s.seen)


def ended(s: TurnState, ended_by: EndedBy, reply: str, now: float, *, error: str = "",
          ended_at: float | None = None) -> TurnEnd:
    """A turn that ended with a reply (or the screen's account of it)."""
    return end_of(s, TurnOutcome.ENDED, ended_by, reply, now, error=error, ended_at=ended_at)


def finish(s: TurnState, end: TurnEnd) -> Step:
    return replace(s, phase=Phase.DONE, wake_at=None), [Finish(end)]


def undeliverable(s: TurnState, why: str, now: float) -> Step:
    return finish(s, end_of(s, TurnOutcome.UNDELIVERABLE, None, "", now, error=why))


def deliver_again(s: TurnState, now: float, actions: Sequence[Action] = ()) -> Step:
    """Back to looking before a paste (the one allowed second delivery)."""
    s = replace(s, phase=Phase.LOOK, enters=0, confirmed_at=None, waiting=None, idle_at=None)
    s, capture = ask(s, None, people=True)
    return s, [*actions, capture]
