"""One turn as a pure state machine: `step(state, event, now) -> (state, actions)`.

Everything that decides lives here: may we paste now, was the text received as sent, was Enter
swallowed, is this Stop ours, is the turn over. No I/O and no clock: the driver (driver.py)
performs the actions and feeds back what happened, the way h11 or h2 handle a protocol without
touching a socket. The agent profile says what a screen or a prompt means (pure functions);
the ledger says whose turn a hook event belongs to.

A turn goes LOOK (a frame we may paste into: no open question, the screen settled) -> ECHO (the
paste shows in the input box) -> SUBMIT (Enter pressed; the agent confirms) -> WORK (until the
turn's end) -> DONE. QUESTION waits while a question is open on screen; REDELIVER waits for the
turn of a garbled copy to end before the one allowed second delivery.

States, events and actions are closed sets, matched exhaustively. An input the machine cannot
have been given (any event after DONE, a paste's position when nothing was pasted) raises
`TurnMachineError`; a late or unasked-for input that can happen (a frame taken for an earlier
phase, a Stop of someone else's turn) changes nothing. The parts: `state` (the state, when to
wake, how a turn ends), `on_hooks` (hook events), `on_frames` (what the screen shows).
"""

from __future__ import annotations

from dataclasses import replace
from typing import assert_never

from claude_orchestrator.agents.base import Kind
from claude_orchestrator.errors import TurnMachineError
from claude_orchestrator.progress import Activity
from claude_orchestrator.turn.events import (
    Died,
    Drew,
    Event,
    Frame,
    Hook,
    Pasted,
    Status,
    Tick,
    TurnOutcome,
)
from claude_orchestrator.turn.ledger import Ledger, Waiting
from claude_orchestrator.turn.on_frames import on_frame, press_enter
from claude_orchestrator.turn.on_hooks import on_hook
from claude_orchestrator.turn.result import EndedBy
from claude_orchestrator.turn.state import (
    Look,
    Phase,
    Step,
    Timing,
    TurnSpec,
    TurnState,
    after_the_end,
    ask,
    end_of,
    finish,
    schedule,
    undeliverable,
)

__all__ = ["Look", "Phase", "Step", "Timing", "TurnSpec", "TurnState", "begin", "resumed",
           "step"]


def begin(spec: TurnSpec, ledger: Ledger, now: float, drawn_at: float) -> Step:
    """The first step: look at the screen before anything is pasted."""
    state, capture = ask(TurnState(spec, Phase.LOOK, ledger, started=now, drawn_at=drawn_at),
                         None, people=True)
    return state, [Status(f"delivering to {spec.profile.name}", Activity.DELIVERING), capture]


def step(s: TurnState, ev: Event, now: float) -> Step:
    """The machine's answer to one event."""
    if s.phase is Phase.DONE:
        raise after_the_end(type(ev).__name__)
    match ev:
        case Hook():
            return on_hook(replace(s, seen=(*s.seen, ev.name)), ev, now)
        case Drew(at=at):
            return _on_drew(replace(s, drawn_at=max(s.drawn_at, at)), now)
        case Frame():
            return on_frame(replace(s, drawn_at=max(s.drawn_at, ev.drawn_at)), ev, now)
        case Pasted(mark=mark):
            return _on_pasted(s, mark, now)
        case Died(reason=reason):
            return _lost(s, reason, now)
        case Tick():
            return _on_tick(s, now)
        case _:
            assert_never(ev)


def _on_pasted(s: TurnState, mark: int, now: float) -> Step:
    if s.phase is not Phase.ECHO or s.mark is not None:
        # A paste is asked for only on the way into ECHO, and answered before anything else
        # can move the phase on: a position now means a driver that pasted unasked.
        raise TurnMachineError(f"a paste's position came in phase {s.phase.value} with no "
                               "paste asked for")
    waiting = Waiting(frozenset(e.serial for e in s.ledger.open))
    first = mark if s.first_mark is None else s.first_mark
    return replace(s, mark=mark, first_mark=first, pasted_at=now,
                   waiting=waiting if s.spec.kind is Kind.SHELL else s.waiting), []


def _on_drew(s: TurnState, now: float) -> Step:
    if s.phase is Phase.ECHO:
        if s.spec.profile.has_input_box:
            s, capture = ask(s, Look.ECHO)
            return s, [capture]
        return schedule(replace(s, echo_drawn=True), now), []
    return schedule(s, now), []


def _on_tick(s: TurnState, now: float) -> Step:
    if s.wake_at is not None and now < s.wake_at:
        return s, []  # woken early (another event came first): nothing is due yet
    match s.phase:
        case Phase.LOOK | Phase.PERSON:
            s, capture = ask(s, None, people=True)
            return s, [capture]
        case Phase.QUESTION:
            assert s.question_since is not None
            if s.asker_busy_at is None and now >= s.question_since + s.spec.idle_timeout:
                return undeliverable(s, "Claude shows a question nobody answered within "
                                     f"{s.spec.idle_timeout:g}s", now)
            s, capture = ask(s, None, people=True)
            return s, [capture]
        case Phase.ECHO:
            return press_enter(s, now)
        case Phase.SUBMIT:
            s, capture = ask(s, Look.CONFIRM)
            return s, [capture]
        case Phase.WORK | Phase.REDELIVER:
            return _work_tick(s, now)
        case Phase.DONE:
            raise after_the_end("a tick")
        case _:
            assert_never(s.phase)


def _work_tick(s: TurnState, now: float) -> Step:
    if s.by_screen:
        s, capture = ask(s, Look.SCREEN, history_from=s.before.history_size if s.before else 0)
    elif s.stop is not None:
        s, capture = ask(s, Look.STOP)
    elif now - max(s.drawn_at, s.busy_at) >= s.spec.idle_timeout:
        s, capture = ask(s, Look.IDLE_TIMEOUT)
    else:
        s, capture = ask(s, Look.WATCHDOG)
    return s, [capture]


def _lost(s: TurnState, reason: str, now: float) -> Step:
    """The agent died. Whether the message was submitted: the hooks know (UserPromptSubmit
    fires on submit); without them a pressed Enter counts, since asking again is better than
    submitting twice."""
    delivered = s.confirmed_at is not None or (s.spec.kind is not Kind.PROMPT and s.enters > 0)
    end = replace(end_of(s, TurnOutcome.LOST, EndedBy.AGENT_DIED, "", now, error=reason),
                  delivered=delivered)
    return finish(s, end)


def resumed(spec: TurnSpec, ledger: Ledger, mark: int, before: Frame, now: float) -> Step:
    """A turn an earlier orchestrator began: its text was pasted at events-file position `mark`
    and Enter pressed. Fed the hook events after `mark`, the machine finds its submission and
    its end, or waits for them; it never pastes again unless the text plainly never arrived."""
    state = TurnState(spec, Phase.SUBMIT, ledger, started=now, drawn_at=now, before=before,
                      mark=mark, first_mark=mark, pastes=1, enters=1, entered_at=now,
                      confirm_at=now)
    return schedule(state, now), []
