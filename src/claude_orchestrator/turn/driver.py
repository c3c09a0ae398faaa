"""The turn machine's driver: performs its actions on the live agent and feeds it what
happened (hook events, drawing, frames, pane death, time). It decides nothing itself, and
knows the agent only through the seam in live.py (tmux in production, a model in the tests).

Recovery policy around the machine: when the agent or tmux dies, restart it (resuming the
conversation where the profile can); deliver the message again only if it had not been
submitted, and never twice.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import assert_never

from claude_orchestrator.agents import Kind, ScreenState
from claude_orchestrator.errors import AgentLost, DeliveryError, OutOfTime, TurnMachineError
from claude_orchestrator.runtime.tmux import TmuxError
from claude_orchestrator.turn.events import (
    Action,
    Capture,
    ClearInput,
    Died,
    Drew,
    Event,
    Finish,
    Frame,
    Paste,
    Pasted,
    Press,
    Status,
    Tell,
    Tick,
    TurnEnd,
    TurnOutcome,
)
from claude_orchestrator.turn.ledger import Ledger
from claude_orchestrator.turn.live import Live, LiveSession
from claude_orchestrator.turn.machine import Step, TurnSpec, TurnState, begin, resumed, step
from claude_orchestrator.turn.result import EndedBy, TurnResult

Clock = Callable[[], float]


def run_turn(sess: LiveSession, message: str, *, literal: bool = True) -> TurnResult:
    """Deliver `message` and return the reply. `literal` keeps `/` and `!` text from being run
    as a command (autonomous mode); in chat (`literal=False`) they pass through to Claude."""
    agent = sess.agent
    text = agent.prepare(message, literal=literal)
    wall = time.time()
    if not text:
        return TurnResult(message, "", "", EndedBy.NOTHING_TO_SEND, wall, None, None, wall,
                          enters=0)
    recovery: list[str] = []
    redelivered = False
    while True:
        sess.ensure_ready()
        spec = _spec(sess, message, text, agent.kind(text, literal=literal,
                                                     hooks=sess.hooks_reporting))
        sent_at = time.time()
        transcript = _transcript_mark(sess)
        end = drive(sess, spec)
        match end.outcome:
            case TurnOutcome.ENDED:
                end = _unreported_failure(sess, spec, end)
                if transcript is None and sess.ledger.transcript_path:
                    transcript = (sess.ledger.transcript_path, 0)  # its session began here
                result = replace(_result(spec, end, sent_at, recovery), transcript=transcript)
                if spec.kind is Kind.SCREEN:
                    view = _view_of_a_live_pane(sess, text)
                    if view:
                        result = replace(result, reply=view)
                if spec.kind is Kind.SHELL and end.ended_by is EndedBy.HOOK:
                    output = shell_output(sess, text)
                    if output is not None:
                        result = _with_output(result, output)
                return result
            case TurnOutcome.UNDELIVERABLE:
                raise DeliveryError(end.error)
            case TurnOutcome.LOST:
                note = f"{end.error} during the turn"
                sess.reporter.note(note)
                recovery.append(note)
                if end.delivered:
                    sess.ensure_ready()
                    resumed_note = (" with the conversation resumed"
                                    if sess.session_id and agent.resumable else "")
                    reply = (f"[orchestrator: {end.error} while working on this message; it "
                             f"was restarted{resumed_note}. The reply was lost; the message "
                             "was not sent again.]")
                    return _result(spec, replace_reply(end, reply), sent_at, recovery)
                if redelivered:
                    raise AgentLost(f"{end.error}, twice: the message could not be delivered")
                redelivered = True
                recovery.append("message delivered again after the restart (it had not "
                                "arrived)")
            case _:
                assert_never(end.outcome)


def _unreported_failure(sess: LiveSession, spec: TurnSpec, end: TurnEnd) -> TurnEnd:
    """A confirmed prompt whose turn the screen ended (no turn-end hook): an agent that reports
    no API failure by hook (Codex, Gemini) names it in its own record or on its screen; then the
    turn ends as an API error of that kind, as Claude's StopFailure would."""
    if (end.outcome is not TurnOutcome.ENDED
            or end.ended_by not in (EndedBy.SCREEN, EndedBy.IDLE_TIMEOUT)
            or spec.kind is not Kind.PROMPT or end.confirmed_at is None):
        return end
    try:
        screen = sess.runtime.capture(history=40)
    except TmuxError:
        screen = []
    failure = sess.agent.turn_failure(sess.ledger.transcript_path, end.prompt_id, screen)
    if failure is None:
        return end
    return replace(end, ended_by=EndedBy.API_ERROR, error=failure.error, reply=failure.message)


MAX_ESCAPES = 4
VIEW_SETTLE = 0.5  # a view draws its parts as they load (2.1.197's /config list: ~0.5 s)


def _view_of_a_live_pane(sess: LiveSession, sent: str) -> str | None:
    """`close_view`, unless tmux or the agent went away since the turn ended: then there is no
    view to close, the reply stands, and the next message restarts the agent (a TmuxError here
    ended chat with exit 1 when tmux was killed between two messages)."""
    try:
        return close_view(sess, sent)
    except TmuxError:
        if sess.runtime.status().alive:
            raise
        return None


def close_view(sess: LiveSession, sent: str) -> str | None:
    """A view a command left open over the prompt (`/help`, `/cost`, `/status`, `/config` in
    Claude 2.1.332 and 2.1.197: a panel with no input box and `Esc to close`, `Esc to go back`
    in a search field) takes every key typed next: the next message would be lost in it.
    Once it has been still for VIEW_SETTLE its text is read (the turn's reply: returned, None
    when no view is open), then it is closed with Escape, one at a time, each once the screen
    shows the last one's effect, at most MAX_ESCAPES."""
    deadline = time.monotonic() + 3.0
    lines = sess.runtime.capture()
    while not sess.agent.closable_view(lines):
        # A view draws in parts (2.1.197's /config: the tabs, then a pause, then its list and
        # footer): until the prompt or a view's footer shows, the screen has not said.
        if sess.agent.screen_state(lines) is ScreenState.IDLE or time.monotonic() > deadline:
            return None
        sess.watcher.wait(0.1)
        lines = sess.runtime.capture()
    _settle(sess, VIEW_SETTLE, limit=3.0)
    lines = sess.runtime.capture()
    echo = max((i for i, ln in enumerate(lines) if ln.lstrip("❯ ").startswith(sent.strip())),
               default=-1)
    view = sess.agent.reply_from_screen(lines[echo + 1:], sent)
    for _ in range(MAX_ESCAPES):
        if not sess.agent.closable_view(lines):
            return view
        sess.runtime.press("Escape")
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and sess.runtime.capture() == lines:
            sess.watcher.wait(0.1)
        _settle(sess, 0.15, limit=deadline - time.monotonic())
        lines = sess.runtime.capture()
    if sess.agent.closable_view(lines):
        sess.reporter.note(f"a view {sess.agent.name} opened stays open after "
                           f"{MAX_ESCAPES} Escapes; the next message may not arrive")
    return view


def _settle(sess: LiveSession, quiet: float, *, limit: float) -> None:
    """Wait until the pane has drawn nothing for `quiet` seconds (at most `limit`)."""
    deadline = time.monotonic() + max(0.0, limit)
    still_until = time.monotonic() + quiet
    while time.monotonic() < min(deadline, still_until):
        if sess.watcher.wait(max(0.0, min(deadline, still_until) - time.monotonic())).output:
            still_until = time.monotonic() + quiet


def await_reply(sess: LiveSession, message: str, mark: int) -> TurnResult | None:
    """The reply to a message a previous orchestrator pasted (at events-file position `mark`)
    and then died waiting on. The hook record after `mark` says whether it was submitted and
    whether its turn ended; a turn still running is waited for. None when the message never
    reached the agent (so it can be delivered now, once). Events before `mark` (an earlier
    identical prompt) never count."""
    if sess.channel is None:
        return None
    text = sess.agent.prepare(message, literal=True)
    if not text:
        return None
    spec = _spec(sess, message, text, Kind.PROMPT)
    ledger = Ledger(session_id=sess.session_id)
    events = sess.channel.read_all()
    for ev in events:
        if ev.pos <= mark:
            ledger = ledger.apply(ev.name, ev.payload)
    ledger = ledger.take_exchanges()[0]  # turns before this one are the run log's already
    now = time.monotonic()
    restarted = sess.starts > 0
    frame = _capture(sess, None) if not restarted else None
    before = frame if isinstance(frame, Frame) else Frame((), now)
    state, actions = resumed(spec, ledger, mark, before, now)
    finished: TurnEnd | None = None
    for ev in events:
        if ev.pos > mark:
            state, more = step(state, ev, now)
            actions += more
            finished = next((a.end for a in more if isinstance(a, Finish)), None)
            if finished is not None:
                break  # what came after the turn's end is the next turn's
    sent_at = time.time()
    if finished is not None and finished.outcome is TurnOutcome.ENDED:
        sess.adopt_ledger(state.ledger)
        return _result(spec, finished, sent_at, ["reply taken from the hook record"])
    if state.confirmed_at is None and (restarted or not sess.hooks_reporting):
        return None  # never submitted before the agent was restarted: deliver it now
    if restarted:
        reply = ("[orchestrator: Claude was restarted while working on this message; the "
                 "reply was lost; the message was not sent again.]")
        end = TurnEnd(TurnOutcome.LOST, EndedBy.AGENT_DIED, reply, delivered=True,
                      confirmed_at=now)
        return _result(spec, end, sent_at, [])
    sess.reporter.note("waiting for the message in flight")
    end = drive(sess, spec, (state, [a for a in actions if not isinstance(a, Finish)]))
    match end.outcome:
        case TurnOutcome.ENDED:
            return _result(spec, end, sent_at, ["waited for the turn in flight"])
        case TurnOutcome.UNDELIVERABLE:
            raise DeliveryError(end.error)
        case TurnOutcome.LOST:
            return _result(spec, replace_reply(end, f"[orchestrator: {end.error} while "
                                                    "working on this message.]"), sent_at, [])
        case _:
            assert_never(end.outcome)


def drive(live: Live, spec: TurnSpec, start: Step | None = None, *,
          clock: Clock = time.monotonic) -> TurnEnd:
    """Run the machine until it finishes: perform each action, feed back each event."""
    return TurnDriver(live, spec, start, clock=clock).run()


class TurnDriver:
    """One turn's machine on a live agent. `state` is the machine's state as it stands (read
    by tests between two waits); `clock` is the monotonic clock the machine's times are on."""

    def __init__(self, live: Live, spec: TurnSpec, start: Step | None = None, *,
                 clock: Clock = time.monotonic) -> None:
        self.live = live
        self.clock = clock
        self.state: TurnState
        self.state, self._actions = start or begin(spec, live.ledger, clock(),
                                                   live.watcher.last_output)

    def run(self) -> TurnEnd:
        """Perform the actions, step the machine with what they led to, and when nothing is
        left to do sleep until something happens or the machine's next wake-up is due."""
        live = self.live
        actions, self._actions = self._actions, []
        queue: deque[Event] = deque()
        try:
            while True:
                for action in actions:
                    if isinstance(action, Finish):
                        return action.end
                    if isinstance(action, Capture):
                        # What Claude reported before this frame is taken first: a frame is
                        # never judged ("it never submitted") on a hook record not read yet.
                        queue.extend(live.read_events())
                    event = _perform(live, action)
                    if isinstance(event, Died):
                        # What the hooks wrote before the death says whether the message was
                        # submitted: the machine reads it before it hears of the death.
                        queue.extend(live.read_events())
                    if event is not None:
                        queue.append(event)
                actions = []
                if queue:
                    self.state, actions = step(self.state, queue.popleft(), self.clock())
                    continue
                queue.extend(self._wait())
        finally:
            live.adopt_ledger(self.state.ledger)
            live.reporter.idle()

    def _wait(self) -> list[Event]:
        """Sleep until something happens or a wake-up is due; what happened, then a Tick."""
        live = self.live
        now = self.clock()
        wake_at = self.state.wake_at
        timeout = wake_at - now if wake_at is not None else 3600.0
        if live.deadline is not None:
            left = live.deadline - now
            if left <= 0:
                raise OutOfTime("time budget reached while Claude worked")
            timeout = min(timeout, left)
        activity = live.watcher.wait(max(0.0, timeout))
        died: Died | None = None
        if activity.gone or activity.pane_died:
            status = live.runtime.status()
            if not status.alive:
                died = Died(status.describe())
        events: list[Event] = []
        if activity.hook or died is not None:  # (before a death: see run())
            events.extend(live.read_events())
        if activity.output:
            events.append(Drew(live.watcher.last_output))
        if died is not None:
            events.append(died)
        events.append(Tick())
        return events


def _perform(sess: Live, action: Action) -> Event | None:
    """One action on the pane; what it led to (a frame, the paste's position, the agent's
    death)."""
    runtime = sess.runtime
    try:
        match action:
            case Capture(history_from=history_from, people=people, n=n):
                return _capture(sess, history_from, people=people, n=n)
            case ClearInput():
                runtime.press("C-u")
            case Paste(text=text):
                mark = sess.events_mark()  # before the paste: whatever it causes comes after
                runtime.paste(text)
                return Pasted(mark)
            case Press(key=key):
                runtime.press(key)
            case Tell(message=message, where=where):
                at = f" (answer it in tmux: {sess.attach_command})" if where else ""
                sess.reporter.note(message + at)
            case Status(what=what, activity=activity):
                sess.reporter.waiting(what, activity)
            case Finish():
                raise TurnMachineError("a turn's end is returned by drive(), not performed")
            case _:
                assert_never(action)
    except TmuxError as err:
        return _died_or_raise(sess, err)
    return None


def _capture(sess: Live, history_from: int | None, *, people: bool = False,
             n: int = 0) -> Event:
    try:
        status = sess.runtime.status()
        if not status.alive:  # a dead pane keeps its last screen: never judge that one
            return Died(status.describe())
        history = 0 if history_from is None else max(0, status.history_size - history_from)
        lines = sess.runtime.capture(history=history)
        idle = None
        if people and sess.watcher.people_maybe:  # tmux is asked only when someone came
            idle = sess.runtime.person_idle()
            sess.watcher.people_maybe = idle is not None
    except TmuxError as err:
        return _died_or_raise(sess, err)
    return Frame(tuple(lines), sess.watcher.last_output, status.history_size,
                 history_from is not None, person_idle=idle, n=n)


def _died_or_raise(sess: Live, err: TmuxError) -> Event:
    """A failed tmux command is the agent's death when the pane is gone; else a real error."""
    status = sess.runtime.status()
    if status.alive:
        raise err
    return Died(status.describe())


def _spec(sess: LiveSession, message: str, text: str, kind: Kind) -> TurnSpec:
    return TurnSpec(message=message, text=text, kind=kind, profile=sess.agent,
                    idle_timeout=sess.config.idle_timeout,
                    stable_window=sess.config.stable_window,
                    stop_hooks_elsewhere=sess.stop_hooks_elsewhere,
                    attach_idle=sess.config.attach_idle)


def _result(spec: TurnSpec, end: TurnEnd, sent_at: float, recovery: list[str]) -> TurnResult:
    if end.ended_by is None:  # only an undeliverable message has no end, and it raises
        raise TurnMachineError(f"a turn that ended {end.outcome} has no reply")
    offset = time.time() - time.monotonic()  # the machine's times are monotonic

    def wall(t: float | None) -> float | None:
        return None if t is None else t + offset

    return TurnResult(
        message=spec.message, sent_text=spec.text, reply=end.reply, ended_by=end.ended_by,
        sent_at=sent_at, confirmed_at=wall(end.confirmed_at), ended_at=wall(end.ended_at),
        reply_at=time.time(), enters=end.enters, recovery=(*end.notes, *recovery),
        received_text=end.received, error=end.error if end.ended_by is EndedBy.API_ERROR else "",
        prompt_id=end.prompt_id, events=end.events)


def replace_reply(end: TurnEnd, reply: str) -> TurnEnd:
    return replace(end, reply=reply)


def _with_output(result: TurnResult, output: str) -> TurnResult:
    return replace(result, output=output)


def _transcript_mark(sess: LiveSession) -> tuple[str, int] | None:
    from claude_orchestrator.agents.transcript import size

    path = sess.ledger.transcript_path
    return (path, size(path)) if path else None


def shell_output(sess: LiveSession, text: str) -> str | None:
    """What a `!cmd` printed, from Claude's transcript (the screen shortens long output)."""
    from claude_orchestrator.agents.transcript import bash_output

    path = sess.ledger.transcript_path
    return bash_output(path, text.lstrip().removeprefix("!").strip()) if path else None
