"""The turn machine's answer to a hook event: is this prompt ours, as sent; is this Stop the end
of our turn (the ledger says whose turn it closed); a note Claude wants the person to see."""

from __future__ import annotations

from dataclasses import replace

from claude_orchestrator.agents.base import Kind
from claude_orchestrator.runtime.hooks import HookName
from claude_orchestrator.turn.events import Hook, Status, Tell
from claude_orchestrator.turn.ledger import Waiting, prompt_id_of
from claude_orchestrator.turn.result import EndedBy
from claude_orchestrator.turn.state import (
    Phase,
    Step,
    TurnState,
    ask,
    deliver_again,
    ended,
    finish,
    schedule,
    undeliverable,
)


def on_hook(s: TurnState, ev: Hook, now: float) -> Step:
    """Hook names are the agent's to choose: one we do not act on only updates the ledger."""
    match ev.name:
        case HookName.NOTIFICATION:
            return _notification(s, ev)
        case HookName.USER_PROMPT_SUBMIT:
            return _submitted(s, ev, now)
        case HookName.STOP | HookName.STOP_FAILURE:
            return _turn_ended(s, ev, now)
        case HookName.SESSION_START:
            return replace(s, ledger=s.ledger.started(ev.payload)), []
        case _:
            return replace(s, ledger=s.ledger.apply(ev.name, ev.payload)), []


def _notification(s: TurnState, ev: Hook) -> Step:
    message = str(ev.payload.get("message") or "")
    if message and "waiting for your input" not in message and s.phase in (
            Phase.SUBMIT, Phase.WORK):
        return s, [Tell(f"Claude: {message}", where=True)]
    return s, []


def _submitted(s: TurnState, ev: Hook, now: float) -> Step:
    spec = s.spec
    after = s.mark is not None and ev.pos > s.mark
    after_first = s.first_mark is not None and ev.pos > s.first_mark
    pid = prompt_id_of(ev.payload)
    got = str(ev.payload.get("prompt", ""))
    candidate = (after_first and spec.kind is Kind.PROMPT and s.confirmed_at is None
                 and s.phase in (Phase.LOOK, Phase.QUESTION, Phase.ECHO, Phase.SUBMIT,
                                 Phase.PERSON))
    mine = candidate and spec.profile.received_as_sent(got, spec.text)
    # Ours too (never reported as someone else's): a garbled copy of our text, and what a
    # slash command we typed expands to.
    ours = mine or (after and s.confirmed_at is None and (
        spec.kind is Kind.SCREEN or spec.profile.resembles(got, spec.text)))
    ledger, ahead = s.ledger.submitted(pid, got, ours=ours, by_person=ev.by_person)
    s = replace(s, ledger=ledger)
    if not candidate:
        return s, []
    if mine:
        # Ours (a late report of a first delivery counts too: it is never sent again).
        s = replace(s, phase=Phase.WORK, confirmed_at=now, received=got, prompt_id=pid,
                    waiting=Waiting(ahead), idle_at=None, judged=-1.0)
        return schedule(s, now), [Status(f"waiting for {spec.profile.name} to finish")]
    if not after or not spec.profile.resembles(got, spec.text):
        return s, []  # someone else's message (typed at the pane): ours is queued
    if s.pastes >= 2:
        return undeliverable(s, "Claude received a different text twice.\n--- sent:\n"
                             f"{spec.text}\n--- received:\n{got}", now)
    note = ("Claude received a garbled copy of the message; it is delivered once more "
            "when that turn ends")
    s = replace(s, phase=Phase.REDELIVER, garbled=Waiting(ahead), notes=(*s.notes, note))
    return schedule(s, now), [Tell(note)]


def _turn_ended(s: TurnState, ev: Hook, now: float) -> Step:
    spec = s.spec
    after = s.mark is not None and ev.pos > s.mark
    pid = prompt_id_of(ev.payload)
    ledger, closed = s.ledger.close(pid, str(ev.payload.get("last_assistant_message") or ""))
    s = replace(s, ledger=ledger)
    if s.phase is Phase.QUESTION and s.asker_busy_at is not None:
        s, capture = ask(s, None, people=True)  # the asker ended
        return s, [capture]
    if s.phase is Phase.REDELIVER and s.garbled is not None:
        # The garbled copy's own turn is the first one to end that is not ahead of it.
        ours, left = s.garbled.ends_ours(closed)
        if not ours:
            return replace(s, garbled=left), []
        return deliver_again(replace(s, garbled=None), now)
    # Events come in file order: after our accepted prompt, every turn end is later than
    # it. Bash mode has no prompt event: there the paste's position is the reference.
    if s.waiting is None or s.by_screen or s.phase not in (
            Phase.ECHO, Phase.SUBMIT, Phase.WORK):
        return s, []
    if (spec.kind is Kind.PROMPT and s.confirmed_at is None) or (
            spec.kind is Kind.SHELL and not after):
        return s, []
    ours, left = s.waiting.ends_ours(closed)
    s = replace(s, waiting=left)
    if not ours:
        return s, []
    if s.confirmed_at is None:  # SHELL: no submit event; the Stop is the confirmation
        s = replace(s, confirmed_at=now)
    return _stop_end(s, ev, now)


def _stop_end(s: TurnState, ev: Hook, now: float) -> Step:
    message = ev.payload.get("last_assistant_message")
    if ev.name == HookName.STOP:
        end = ended(s, EndedBy.HOOK, str(message or ""), now)
    else:
        kind = str(ev.payload.get("error") or "")
        end = ended(s, EndedBy.API_ERROR, str(message or f"API Error: {kind}"), now,
                    error=kind)
    if s.spec.stop_hooks_elsewhere and ev.name == HookName.STOP:
        # Another Stop hook may block the stop and send Claude on: the screen must agree.
        return schedule(replace(s, stop=end), now), []
    return finish(s, end)
