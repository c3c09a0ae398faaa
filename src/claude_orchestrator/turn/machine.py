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
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from claude_orchestrator.agents.base import Agent, Kind, ScreenState
from claude_orchestrator.screen import new_lines
from claude_orchestrator.turn.events import (
    Action,
    Capture,
    ClearInput,
    Died,
    Drew,
    Event,
    Finish,
    Frame,
    Hook,
    Paste,
    Pasted,
    Press,
    Status,
    Tell,
    Tick,
    TurnEnd,
)
from claude_orchestrator.turn.ledger import TURN_ENDS, Ledger, Waiting, prompt_id_of

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
    look: str = ""  # why the pending capture was taken
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


def begin(spec: TurnSpec, ledger: Ledger, now: float, drawn_at: float) -> Step:
    """The first step: look at the screen before anything is pasted."""
    state = TurnState(spec, Phase.LOOK, ledger, started=now, drawn_at=drawn_at, look="look")
    return state, [Status(f"delivering to {spec.profile.name}"), Capture(people=True)]


def step(s: TurnState, ev: Event, now: float) -> Step:
    """The machine's answer to one event."""
    if s.phase is Phase.DONE:
        return s, []
    if isinstance(ev, Hook):
        return _on_hook(replace(s, seen=(*s.seen, ev.name)), ev, now)
    if isinstance(ev, Drew):
        return _on_drew(replace(s, drawn_at=max(s.drawn_at, ev.at)), now)
    if isinstance(ev, Frame):
        return _on_frame(replace(s, drawn_at=max(s.drawn_at, ev.drawn_at)), ev, now)
    if isinstance(ev, Pasted):
        waiting = Waiting(frozenset(e.serial for e in s.ledger.open))
        first = ev.mark if s.first_mark is None else s.first_mark
        return replace(s, mark=ev.mark, first_mark=first,
                       waiting=waiting if s.spec.kind is Kind.SHELL else s.waiting), []
    if isinstance(ev, Died):
        return _lost(s, ev.reason, now)
    assert isinstance(ev, Tick)
    return _on_tick(s, now)


# ----------------------------------------------------------------------------- hooks
def _on_hook(s: TurnState, ev: Hook, now: float) -> Step:
    spec = s.spec
    after = s.mark is not None and ev.pos > s.mark
    after_first = s.first_mark is not None and ev.pos > s.first_mark
    pid = prompt_id_of(ev.payload)
    if ev.name == "Notification":
        message = str(ev.payload.get("message") or "")
        if message and "waiting for your input" not in message and s.phase in (
                Phase.SUBMIT, Phase.WORK):
            return s, [Tell(f"Claude: {message}", where=True)]
        return s, []
    if ev.name == "UserPromptSubmit":
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
            return _schedule(s, now), [Status(f"waiting for {spec.profile.name} to finish")]
        if not after or not spec.profile.resembles(got, spec.text):
            return s, []  # someone else's message (typed at the pane): ours is queued
        if s.pastes >= 2:
            return _undeliverable(s, "Claude received a different text twice.\n--- sent:\n"
                                  f"{spec.text}\n--- received:\n{got}", now)
        note = ("Claude received a garbled copy of the message; it is delivered once more "
                "when that turn ends")
        s = replace(s, phase=Phase.REDELIVER, garbled=Waiting(ahead), notes=(*s.notes, note))
        return _schedule(s, now), [Tell(note)]
    if ev.name in TURN_ENDS:
        ledger, closed = s.ledger.close(pid, str(ev.payload.get("last_assistant_message") or ""))
        s = replace(s, ledger=ledger)
        if s.phase is Phase.QUESTION and s.asker_busy_at is not None:
            return replace(s, look="question"), [Capture(people=True)]  # the asker ended
        if s.phase is Phase.REDELIVER and s.garbled is not None:
            # The garbled copy's own turn is the first one to end that is not ahead of it.
            ours, left = s.garbled.ends_ours(closed)
            if not ours:
                return replace(s, garbled=left), []
            return _deliver_again(replace(s, garbled=None), now)
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
    if ev.name == "SessionStart":
        return replace(s, ledger=s.ledger.started(ev.payload)), []
    return replace(s, ledger=s.ledger.apply(ev.name, ev.payload)), []


def _stop_end(s: TurnState, ev: Hook, now: float) -> Step:
    message = ev.payload.get("last_assistant_message")
    if ev.name == "Stop":
        end = _end(s, "ended", "hook", str(message or ""), now)
    else:
        kind = str(ev.payload.get("error") or "")
        end = _end(s, "ended", "api-error", str(message or f"API Error: {kind}"), now,
                   error=kind)
    if s.spec.stop_hooks_elsewhere and ev.name == "Stop":
        # Another Stop hook may block the stop and send Claude on: the screen must agree.
        return _schedule(replace(s, stop=end), now), []
    return _finish(s, end)


# ----------------------------------------------------------------------------- drawing, time
def _on_drew(s: TurnState, now: float) -> Step:
    if s.phase is Phase.ECHO:
        if s.spec.profile.has_input_box:
            return replace(s, look="echo"), [Capture()]
        return _schedule(replace(s, echo_drawn=True), now), []
    return _schedule(s, now), []


def _schedule(s: TurnState, now: float) -> TurnState:
    """When to be woken if nothing happens: the earliest check that is due."""
    t = s.spec.timing
    due: list[float] = []
    if s.phase is Phase.LOOK:
        due.append(s.drawn_at + t.settle_quiet)
    elif s.phase is Phase.PERSON:
        due.append(s.person_look_at)
    elif s.phase is Phase.QUESTION and s.asker_busy_at is not None:
        due.append(s.asker_busy_at + 1.0)  # its Stop wakes us at once; the screen is a check
    elif s.phase is Phase.QUESTION:
        assert s.question_since is not None
        due += [s.question_since + s.spec.idle_timeout]
        if s.drawn_at > s.judged:
            due.append(s.drawn_at + t.draw_pause)
    elif s.phase is Phase.ECHO:
        due.append(s.echo_deadline)
        if s.echo_drawn:
            due.append(s.drawn_at + 0.03)
    elif s.phase is Phase.SUBMIT:
        due.append(s.confirm_at)
        if s.spec.kind is Kind.SCREEN and s.drawn_at > s.judged:
            due.append(s.drawn_at + t.draw_pause)
    elif s.by_screen:
        if s.drawn_at != s.judged:
            due.append(s.drawn_at + s.spec.stable_window)
        else:
            due += [x for x in (s.drawn_at + t.empty_grace, s.drawn_at + s.spec.idle_timeout)
                    if x > now]
    elif s.stop is not None:
        due.append(s.drawn_at + t.stop_settle)
    else:
        if s.idle_at is not None:
            due.append(s.idle_look_at)
        elif s.drawn_at > s.judged:
            due.append(s.drawn_at + t.quiet_check)
        due.append(max(s.drawn_at, s.busy_at) + s.spec.idle_timeout)
    return replace(s, wake_at=min(due) if due else None)


def _on_tick(s: TurnState, now: float) -> Step:
    if s.wake_at is not None and now < s.wake_at:
        return s, []
    if s.phase in (Phase.LOOK, Phase.PERSON):
        return replace(s, look="look"), [Capture(people=True)]
    if s.phase is Phase.QUESTION:
        assert s.question_since is not None
        if s.asker_busy_at is None and now >= s.question_since + s.spec.idle_timeout:
            return _undeliverable(s, "Claude shows a question nobody answered within "
                                  f"{s.spec.idle_timeout:g}s", now)
        return replace(s, look="question"), [Capture(people=True)]
    if s.phase is Phase.ECHO:
        return _press_enter(s, now)
    if s.phase is Phase.SUBMIT:
        return replace(s, look="confirm"), [Capture()]
    if s.by_screen:
        return replace(s, look="screen"), [_whole_turn(s)]
    if s.stop is not None:
        return replace(s, look="stop"), [Capture()]
    if now - max(s.drawn_at, s.busy_at) >= s.spec.idle_timeout:
        return replace(s, look="idle-timeout"), [Capture()]
    return replace(s, look="watchdog"), [Capture()]


def _whole_turn(s: TurnState) -> Capture:
    return Capture(history_from=s.before.history_size if s.before else 0)


# ----------------------------------------------------------------------------- frames
def _on_frame(s: TurnState, f: Frame, now: float) -> Step:
    look = s.look
    s = replace(s, look="")
    if s.phase in (Phase.LOOK, Phase.QUESTION, Phase.PERSON):
        return _before_paste(s, f, now)
    if s.phase is Phase.ECHO and look == "echo":
        if s.spec.profile.input_pending(f.lines, s.spec.text):
            return _press_enter(s, now)
        return s, []
    if s.phase is Phase.SUBMIT and look == "confirm":
        return _confirm_look(replace(s, judged=f.drawn_at), f, now)
    if s.phase in (Phase.WORK, Phase.REDELIVER):
        return _work_look(s, f, look, now)
    return s, []


def _state(s: TurnState, f: Frame) -> ScreenState:
    return s.spec.profile.screen_state(f.lines)


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
                       Status(f"waiting for {spec.profile.name}'s question to be answered")]
        s = replace(s, phase=Phase.QUESTION, judged=f.drawn_at, asker_busy_at=None,
                    question_since=s.question_since if s.question_since is not None else now)
        return _schedule(s, now), actions
    if (s.question_since is not None and state is ScreenState.BUSY and s.ledger.reporting
            and s.ledger.open):
        # The question was answered and the turn that asked goes on with its tool. A message
        # typed now is folded into that turn (2.1.197: as a note to the model, with no
        # UserPromptSubmit and no turn of its own, measured): wait for that turn to end.
        actions = [] if s.asker_busy_at is not None else [
            Status(f"waiting for {spec.profile.name} to finish the turn that asked")]
        s = replace(s, phase=Phase.QUESTION, judged=f.drawn_at, asker_busy_at=now)
        return _schedule(s, now), actions
    if spec.kind is Kind.SCREEN and now - s.started < t.settle_limit and (
            state is ScreenState.BUSY or now - f.drawn_at < t.settle_quiet):
        # Let the agent finish drawing the last turn, so "before" is the settled screen.
        return _schedule(replace(s, phase=Phase.LOOK), now), []
    leftover = spec.profile.leftover_input(f.lines)
    if f.person_idle is not None and (f.person_idle < spec.attach_idle or leftover):
        # A person at the pane types (or left their text in the box): never type over them.
        wait = min(spec.attach_idle - f.person_idle, 2.0) if not leftover else 2.0
        actions = [] if s.phase is Phase.PERSON else [
            Tell("paused: someone is typing at the pane"),
            Status("paused: someone is typing at the pane")]
        s = replace(s, phase=Phase.PERSON, person_look_at=now + max(0.2, wait))
        return _schedule(s, now), actions
    ledger = s.ledger.idle() if state is ScreenState.IDLE else s.ledger
    actions = [ClearInput()] if leftover else []
    if s.phase in (Phase.QUESTION, Phase.PERSON):
        actions.append(Status(f"delivering to {spec.profile.name}"))
    s = replace(s, phase=Phase.ECHO, ledger=ledger, before=f, pastes=s.pastes + 1,
                echo_drawn=False, echo_deadline=now + t.echo_wait, mark=None)
    return _schedule(s, now), [*actions, Paste(spec.text)]


def _press_enter(s: TurnState, now: float) -> Step:
    """The first Enter, once the paste shows (Claude drops an Enter that comes earlier)."""
    t = s.spec.timing
    wait = t.first_look if s.spec.kind is not Kind.SCREEN else t.confirm_wait
    s = replace(s, phase=Phase.SUBMIT, enters=1, entered_at=now, confirm_at=now + wait,
                judged=s.drawn_at)
    return _schedule(s, now), [Press("Enter")]


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
        return _schedule(s, now), [Press("Enter")]
    if spec.kind is Kind.SCREEN:
        if not pending and list(f.lines) != list(before.lines):
            return _confirmed_by_screen(s, now, [])
        if not due:
            return _schedule(s, now), []
        if pending:
            return _undeliverable(s, "the agent does not take the message: it stays in its "
                                  "input box", now)
        return _not_arrived(s, now)
    if spec.kind is Kind.SHELL:
        if not pending:  # the command left the box: it runs; its Stop ends the turn
            s = replace(s, phase=Phase.WORK, confirmed_at=now)
            return _schedule(s, now), [Status(f"waiting for {spec.profile.name} to finish")]
        return _schedule(replace(s, confirm_at=now + t.confirm_wait), now), []
    if state is ScreenState.BUSY or now - s.entered_at < t.no_submit_grace:
        # Working, or queued behind a turn: accepted but not reported yet. Never re-send.
        return _schedule(replace(s, confirm_at=now + t.confirm_wait), now), []
    if pending:
        return _undeliverable(s, "Claude does not take the message: it stays in its input "
                              "box", now)
    first = spec.text.strip().split("\n", 1)[0].strip()[:40]
    shown = bool(first) and any(first in line for line in new_lines(before.lines, f.lines))
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
    return _schedule(s, now), [*actions, Status(f"waiting for {s.spec.profile.name} to finish")]


def _not_arrived(s: TurnState, now: float, why: str = "the message did not arrive") -> Step:
    """Idle, the box empty, and nothing reported it: the text never reached the agent."""
    if s.pastes >= 2:
        return _undeliverable(s, f"{why}, twice", now)
    note = f"{why}; it is delivered once more"
    return _deliver_again(replace(s, notes=(*s.notes, note)), now, [Tell(note)])


def _deliver_again(s: TurnState, now: float, actions: Sequence[Action] = ()) -> Step:
    s = replace(s, phase=Phase.LOOK, look="look", enters=0, confirmed_at=None, waiting=None,
                idle_at=None)
    return s, [*actions, Capture(people=True)]


def _work_look(s: TurnState, f: Frame, look: str, now: float) -> Step:
    t = s.spec.timing
    state = _state(s, f)
    if look == "stop" and s.stop is not None:
        if state is not ScreenState.BUSY:
            return _finish(s, replace(s.stop, ended_at=s.stop.ended_at))
        return _schedule(replace(s, stop=None), now), []  # a Stop hook sent Claude on
    if look == "screen":
        return _screen_look(replace(s, judged=f.drawn_at), f, state, now)
    if look == "idle-timeout":
        if state is ScreenState.BUSY:
            # Claude says it works (a long tool call that does not redraw): not idle.
            return _schedule(replace(s, busy_at=now), now), []
        return _finish(s, _end(s, "ended", "idle-timeout", _screen_reply(s, f), now))
    if look != "watchdog":
        return s, []
    s = replace(s, judged=f.drawn_at)
    if state is not ScreenState.IDLE:
        return _schedule(replace(s, idle_at=None), now), []
    if s.idle_at is None or s.idle_at != f.drawn_at:
        # Idle without a Stop: look once more before believing it (a Stop may be on its way).
        s = replace(s, idle_at=f.drawn_at, idle_look_at=now + t.idle_grace)
        return _schedule(s, now), []
    if s.phase is Phase.REDELIVER:
        return _deliver_again(replace(s, garbled=None, ledger=s.ledger.idle()), now)
    # Idle, still, no Stop: the turn was interrupted (Escape), or no hook reports it.
    return _finish(s, _end(s, "ended", "screen", _screen_reply(s, f), now,
                           ended_at=f.drawn_at))


def _screen_look(s: TurnState, f: Frame, state: ScreenState, now: float) -> Step:
    spec, t = s.spec, s.spec.timing
    quiet = now - f.drawn_at
    if quiet < spec.stable_window or state is ScreenState.BUSY:
        return _schedule(s, now), []
    if state is ScreenState.UNKNOWN_DIALOG:
        # A question mid-turn (e.g. a permission): not an answer. Wait for a person.
        if s.asked:
            return _schedule(s, now), []
        return _schedule(replace(s, asked=True), now), [
            Tell(f"{spec.profile.name} shows a question", where=True)]
    assert s.before is not None
    if list(f.lines) == list(s.before.lines) and quiet < spec.idle_timeout:
        return _schedule(s, now), []
    reply = _screen_reply(s, f)
    if not reply.strip() and quiet < t.empty_grace:
        return _schedule(s, now), []
    how = "idle-timeout" if quiet >= spec.idle_timeout and not reply.strip() else "screen"
    return _finish(s, _end(s, "ended", how, reply, now, ended_at=f.drawn_at))


def _screen_reply(s: TurnState, f: Frame) -> str:
    before: Sequence[str] = s.before.lines if s.before else ()
    return s.spec.profile.reply_from_screen(new_lines(before, f.lines), s.spec.text)


# ----------------------------------------------------------------------------- endings
def _end(s: TurnState, outcome: str, ended_by: str, reply: str, now: float, *,
         error: str = "", ended_at: float | None = None) -> TurnEnd:
    return TurnEnd(outcome=outcome, ended_by=ended_by, reply=reply, error=error,
                   delivered=s.confirmed_at is not None or outcome == "ended",
                   received=s.received, prompt_id=s.prompt_id, confirmed_at=s.confirmed_at,
                   ended_at=now if ended_at is None else ended_at, enters=s.enters,
                   pastes=s.pastes, notes=s.notes, events=s.seen)


def _finish(s: TurnState, end: TurnEnd) -> Step:
    return replace(s, phase=Phase.DONE, wake_at=None), [Finish(end)]


def _undeliverable(s: TurnState, why: str, now: float) -> Step:
    return _finish(s, _end(s, "undeliverable", "", "", now, error=why))


def _lost(s: TurnState, reason: str, now: float) -> Step:
    """The agent died. Whether the message was submitted: the hooks know (UserPromptSubmit
    fires on submit); without them a pressed Enter counts, since asking again is better than
    submitting twice."""
    delivered = s.confirmed_at is not None or (s.spec.kind is not Kind.PROMPT and s.enters > 0)
    end = replace(_end(s, "lost", "agent-died", "", now, error=reason), delivered=delivered)
    return _finish(s, end)


def resumed(spec: TurnSpec, ledger: Ledger, mark: int, before: Frame, now: float) -> Step:
    """A turn an earlier orchestrator began: its text was pasted at events-file position `mark`
    and Enter pressed. Fed the hook events after `mark`, the machine finds its submission and
    its end, or waits for them; it never pastes again unless the text plainly never arrived."""
    state = TurnState(spec, Phase.SUBMIT, ledger, started=now, drawn_at=now, before=before,
                      mark=mark, first_mark=mark, pastes=1, enters=1, entered_at=now,
                      confirm_at=now)
    return _schedule(state, now), []
