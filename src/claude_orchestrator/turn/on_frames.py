"""The turn machine's answer to a frame of the screen: may we paste now (no question open, no
person typing), did the paste show, was Enter taken, and (when no hook tells) is the turn over.
What a screen means is the agent profile's to say; what to do about it is decided here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import assert_never

from claude_orchestrator.agents.base import Kind, ScreenState, input_box
from claude_orchestrator.progress import Activity
from claude_orchestrator.screen import new_lines
from claude_orchestrator.turn.events import Action, ClearInput, Frame, Paste, Press, Status, Tell
from claude_orchestrator.turn.result import EndedBy
from claude_orchestrator.turn.state import (
    Look,
    Phase,
    Step,
    TurnState,
    after_the_end,
    deliver_again,
    ended,
    finish,
    schedule,
    undeliverable,
)


def on_frame(s: TurnState, f: Frame, now: float) -> Step:
    """A frame is judged by the phase, and by why it was taken: one taken for an earlier phase
    (a capture still queued when the phase moved on) changes nothing."""
    if f.n != s.captures:
        return s, []  # stale: the latest capture's frame is on its way
    look = s.look
    s = replace(s, look=None)
    match s.phase:
        case Phase.LOOK | Phase.QUESTION | Phase.PERSON:
            return _before_paste(s, f, now)
        case Phase.ECHO:
            if look is Look.ECHO and s.spec.profile.input_pending(f.lines, s.spec.text):
                return press_enter(s, now)
            return s, []
        case Phase.SUBMIT:
            if look is Look.CONFIRM:
                return _confirm_look(replace(s, judged=f.drawn_at), f, now)
            return s, []
        case Phase.WORK | Phase.REDELIVER:
            return _work_look(s, f, look, now)
        case Phase.DONE:
            raise after_the_end("a frame")
        case _:
            assert_never(s.phase)


def _state(s: TurnState, f: Frame) -> ScreenState:
    return s.spec.profile.screen_state(f.lines)


# ----------------------------------------------------------------------------- delivery
def _before_paste(s: TurnState, f: Frame, now: float) -> Step:
    spec, t = s.spec, s.spec.timing
    state = _state(s, f)
    if state is ScreenState.UNKNOWN_DIALOG:
        # Text pasted into a question (a permission left open, a dialog a person opened)
        # would answer it: wait until someone answers it.
        actions: list[Action] = []
        if s.phase is not Phase.QUESTION:
            actions = [Tell(f"{spec.profile.name} shows a question; the message waits until "
                            "it is answered", where=True),
                       Status(f"waiting for {spec.profile.name}'s question to be answered",
                              Activity.WAITING_QUESTION)]
        s = replace(s, phase=Phase.QUESTION, judged=f.drawn_at, asker_busy_at=None,
                    question_since=s.question_since if s.question_since is not None else now)
        return schedule(s, now), actions
    if (s.question_since is not None and state is ScreenState.BUSY and s.ledger.reporting
            and s.ledger.open):
        # The question was answered and the turn that asked goes on with its tool. A message
        # typed now is folded into that turn (2.1.197: as a note to the model, with no
        # UserPromptSubmit and no turn of its own, measured): wait for that turn to end.
        actions = [] if s.asker_busy_at is not None else [
            Status(f"waiting for {spec.profile.name} to finish the turn that asked")]
        s = replace(s, phase=Phase.QUESTION, judged=f.drawn_at, asker_busy_at=now)
        return schedule(s, now), actions
    if spec.kind is Kind.SCREEN and now - s.started < t.settle_limit and (
            state is ScreenState.BUSY or now - f.drawn_at < t.settle_quiet):
        # Let the agent finish drawing the last turn, so "before" is the settled screen.
        return schedule(replace(s, phase=Phase.LOOK), now), []
    leftover = spec.profile.leftover_input(f.lines)
    # Our own text left unsubmitted in the box (a swallowed Enter) is not a person's.
    theirs = leftover and not (s.pastes and spec.profile.input_pending(f.lines, spec.text))
    if f.person_idle is not None and (f.person_idle < spec.attach_idle or theirs):
        # A person at the pane types (or left their text in the box): never type over them.
        wait = min(spec.attach_idle - f.person_idle, 2.0) if not theirs else 2.0
        actions = [] if s.phase is Phase.PERSON else [
            Tell("paused: someone is typing at the pane"),
            Status("paused: someone is typing at the pane", Activity.PAUSED_PERSON)]
        s = replace(s, phase=Phase.PERSON, person_look_at=now + max(0.2, wait))
        return schedule(s, now), actions
    ledger = s.ledger.idle() if state is ScreenState.IDLE else s.ledger
    actions = [ClearInput()] if leftover else []
    if s.phase in (Phase.QUESTION, Phase.PERSON):
        actions.append(Status(f"delivering to {spec.profile.name}", Activity.DELIVERING))
    s = replace(s, phase=Phase.ECHO, ledger=ledger, before=f, pastes=s.pastes + 1,
                echo_drawn=False, echo_deadline=now + t.echo_wait, mark=None)
    return schedule(s, now), [*actions, Paste(spec.text)]


def press_enter(s: TurnState, now: float) -> Step:
    """The first Enter, once the paste shows (Claude drops an Enter that comes earlier) and the
    profile's `paste_settle` has passed since the paste (Gemini takes an Enter within 40 ms of
    a paste as a new line)."""
    t = s.spec.timing
    if now < s.pasted_at + s.spec.profile.paste_settle:
        return schedule(replace(s, echo_drawn=True), now), []
    wait = t.first_look if s.spec.kind is not Kind.SCREEN else t.confirm_wait
    s = replace(s, phase=Phase.SUBMIT, enters=1, entered_at=now, confirm_at=now + wait,
                judged=s.drawn_at)
    return schedule(s, now), [Press("Enter")]


def _confirm_look(s: TurnState, f: Frame, now: float) -> Step:
    spec, t = s.spec, s.spec.timing
    before = s.before
    assert before is not None
    pending = spec.profile.input_pending(f.lines, spec.text)
    state = _state(s, f)
    due = now >= s.confirm_at  # (the screen path also looks whenever the screen draws)
    limit = t.max_enters * (2 if state is ScreenState.IDLE else 1)
    if pending and due and s.enters < limit:
        # Enter was swallowed: the text still sits in the box. Pressing Enter again cannot
        # submit twice (a submit empties the box); the text itself is never typed again.
        s = replace(s, enters=s.enters + 1, confirm_at=now + t.confirm_wait * (s.enters + 1))
        return schedule(s, now), [Press("Enter")]
    if spec.kind is Kind.SCREEN:
        if not pending and list(f.lines) != list(before.lines):
            return _confirmed_by_screen(s, now, [])
        if not due:
            return schedule(s, now), []
        if pending:
            return undeliverable(s, "the agent does not take the message: it stays in its "
                                 "input box", now)
        return _not_arrived(s, now)
    if spec.kind is Kind.SHELL:
        if not pending:  # the command left the box: it runs; its Stop ends the turn
            s = replace(s, phase=Phase.WORK, confirmed_at=now)
            return schedule(s, now), [Status(f"waiting for {spec.profile.name} to finish")]
        return schedule(replace(s, confirm_at=now + t.confirm_wait), now), []
    if state is ScreenState.BUSY or now - s.entered_at < t.no_submit_grace:
        # Working, or queued behind a turn: accepted but not reported yet. Never re-send.
        return schedule(replace(s, confirm_at=now + t.confirm_wait), now), []
    if pending:
        return undeliverable(s, "Claude does not take the message: it stays in its input "
                             "box", now)
    first = spec.text.strip().split("\n", 1)[0].strip()[:40]
    box = input_box(f.lines)  # the conversation above the input box, not the box itself
    above = f.lines[:box[0]] if box is not None else f.lines
    shown = bool(first) and any(first in line for line in new_lines(before.lines, above))
    if shown and s.ledger.reporting:
        # Shown, but its hooks (which do report) never said it was submitted: Claude did not
        # take it as a message of its own (2.1.197 folds a message typed while a tool runs
        # into that turn). That turn's end is not this message's reply.
        return _not_arrived(s, now, "Claude showed the message but never submitted it")
    if shown:
        note = ("Claude took the message but its hooks did not report it; the screen decides "
                "when the turn ends")
        return _confirmed_by_screen(s, now, [Tell(note)])
    return _not_arrived(s, now)


def _confirmed_by_screen(s: TurnState, now: float, actions: list[Action]) -> Step:
    s = replace(s, phase=Phase.WORK, by_screen=True, confirmed_at=now, judged=-1.0)
    return schedule(s, now), [*actions, Status(f"waiting for {s.spec.profile.name} to finish")]


def _not_arrived(s: TurnState, now: float, why: str = "the message did not arrive") -> Step:
    """Idle, the box empty, and nothing reported it: the text never reached the agent."""
    if s.pastes >= 2:
        return undeliverable(s, f"{why}, twice", now)
    note = f"{why}; it is delivered once more"
    return deliver_again(replace(s, notes=(*s.notes, note)), now, [Tell(note)])


# ----------------------------------------------------------------------------- the turn's end
def _work_look(s: TurnState, f: Frame, look: Look | None, now: float) -> Step:
    match look:
        case Look.STOP:
            if s.stop is None:
                return s, []
            if _state(s, f) is not ScreenState.BUSY:
                return finish(s, s.stop)
            return schedule(replace(s, stop=None), now), []  # a Stop hook sent Claude on
        case Look.SCREEN:
            return _screen_look(replace(s, judged=f.drawn_at), f, _state(s, f), now)
        case Look.IDLE_TIMEOUT:
            if _state(s, f) is ScreenState.BUSY:
                # Claude says it works (a long tool call that does not redraw): not idle.
                return schedule(replace(s, busy_at=now), now), []
            return finish(s, ended(s, EndedBy.IDLE_TIMEOUT, _screen_reply(s, f), now))
        case Look.WATCHDOG:
            return _watchdog_look(replace(s, judged=f.drawn_at), f, now)
        case Look.ECHO | Look.CONFIRM | None:
            return s, []  # taken for an earlier phase
        case _:
            assert_never(look)


def _watchdog_look(s: TurnState, f: Frame, now: float) -> Step:
    answer = _answer_question(s, f, now)
    if answer is not None:
        return answer
    if _state(s, f) is not ScreenState.IDLE:
        return schedule(replace(s, idle_at=None), now), []
    if s.idle_at is None or s.idle_at != f.drawn_at:
        # Idle without a Stop: look once more before believing it (a Stop may be on its way).
        s = replace(s, idle_at=f.drawn_at, idle_look_at=now + s.spec.timing.idle_grace)
        return schedule(s, now), []
    if s.phase is Phase.REDELIVER:
        return deliver_again(replace(s, garbled=None, ledger=s.ledger.idle()), now)
    # Idle, still, no Stop: the turn was interrupted (Escape), or no hook reports it.
    return finish(s, ended(s, EndedBy.SCREEN, _screen_reply(s, f), now, ended_at=f.drawn_at))


def _screen_look(s: TurnState, f: Frame, state: ScreenState, now: float) -> Step:
    spec, t = s.spec, s.spec.timing
    quiet = now - f.drawn_at
    if quiet < spec.stable_window or state is ScreenState.BUSY:
        return schedule(s, now), []
    answer = _answer_question(s, f, now)
    if answer is not None:
        return answer
    if state is ScreenState.UNKNOWN_DIALOG:
        # A question mid-turn (e.g. a permission): not an answer. Wait for a person.
        if s.asked:
            return schedule(s, now), []
        return schedule(replace(s, asked=True), now), [
            Tell(f"{spec.profile.name} shows a question", where=True)]
    assert s.before is not None
    if list(f.lines) == list(s.before.lines) and quiet < spec.idle_timeout:
        return schedule(s, now), []
    reply = _screen_reply(s, f)
    if not reply.strip() and quiet < t.empty_grace:
        return schedule(s, now), []
    how = EndedBy.IDLE_TIMEOUT if quiet >= spec.idle_timeout and not reply.strip() \
        else EndedBy.SCREEN
    return finish(s, ended(s, how, reply, now, ended_at=f.drawn_at))


def _answer_question(s: TurnState, f: Frame, now: float) -> Step | None:
    """A question the agent asks mid-turn that the profile answers (Gemini's usage limit: Stop):
    one key on a frame that has been still for the stable window; the next key is chosen on a
    frame drawn after it (the caller has marked this one judged)."""
    key = s.spec.profile.turn_question_key(f.lines)
    if key is None:
        return None
    settled = f.drawn_at + s.spec.stable_window
    if now < settled:  # look again once it is (a --stable-window above the watchdog's)
        s = schedule(s, now)
        return replace(s, wake_at=min(settled, s.wake_at or settled)), []
    return schedule(replace(s, idle_at=None), now), [Press(key)]


def _screen_reply(s: TurnState, f: Frame) -> str:
    before: Sequence[str] = s.before.lines if s.before else ()
    return s.spec.profile.reply_from_screen(new_lines(before, f.lines), s.spec.text)
