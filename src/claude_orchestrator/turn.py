"""One turn: deliver a message, confirm it was submitted, wait for the end, take the reply.

Recovery policy: when the agent or tmux dies, restart it (resuming the conversation where the
profile can); deliver the message again only if it had not been submitted, and never twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from claude_orchestrator.agents import Agent, ScreenState
from claude_orchestrator.agents.base import input_text
from claude_orchestrator.runtime.tmux import TmuxError
from claude_orchestrator.screen import new_lines
from claude_orchestrator.session import AgentSession
from claude_orchestrator.waits import (
    AgentLost,
    DeliveryError,
    HookWait,
    OutOfTime,
    ScreenWait,
    ends_prompt,
    settle,
    stop_outcome,
    type_message,
)

__all__ = ["AgentLost", "DeliveryError", "OutOfTime", "TurnResult", "await_reply", "run_turn"]


@dataclass(frozen=True)
class TurnResult:
    """A turn's outcome: one shape for chat, the supervisor, the run log and the benchmarks."""

    message: str
    sent_text: str
    reply: str
    ended_by: str  # hook | api-error | screen | idle-timeout | agent-died
    sent_at: float
    confirmed_at: float | None
    ended_at: float | None
    reply_at: float
    enters: int = 1
    recovery: tuple[str, ...] = ()
    received_text: str | None = None
    events: tuple[str, ...] = field(default=(), repr=False)

    @property
    def ok(self) -> bool:
        """Claude answered (by its hook or its screen), rather than failing or going quiet."""
        return self.ended_by in ("hook", "screen")

    def timings(self) -> dict[str, Any]:
        return {"sent_at": self.sent_at, "confirmed_at": self.confirmed_at,
                "ended_at": self.ended_at, "reply_at": self.reply_at, "enters": self.enters}


def run_turn(sess: AgentSession, message: str, *, literal: bool = True,
             use_hooks: bool | None = None) -> TurnResult:
    """Deliver `message` and return the reply. `literal` keeps `/`, `!`, `#` text from being
    run as a command (autonomous mode); `use_hooks=False` forces the screen path (e.g. a slash
    command typed by a person fires no hook)."""
    recovery: list[str] = []
    redelivered = False
    while True:
        status_before = sess.ensure_ready()
        try:
            return _attempt(sess, message, literal=literal, use_hooks=use_hooks,
                            recovery=recovery, history=status_before.history_size
                            if status_before else None)
        except AgentLost as lost:
            note = f"{lost} during the turn"
            sess.reporter.note(note)
            recovery.append(note)
            if lost.delivered:
                sess.ensure_ready()
                now = time.time()
                reply = (f"[orchestrator: {lost} while working on this message; it was "
                         "restarted" + (" with the conversation resumed" if sess.session_id
                                        and sess.agent.resumable else "") +
                         ". The reply was lost; the message was not sent again.]")
                return TurnResult(message, lost.sent_text or message, reply, "agent-died",
                                  lost.sent_at or now, lost.confirmed_at, None, now,
                                  recovery=tuple(recovery), received_text=lost.received)
            if redelivered:
                raise
            redelivered = True
            recovery.append("message delivered again after the restart (it had not arrived)")


def _attempt(sess: AgentSession, message: str, *, literal: bool, use_hooks: bool | None,
             recovery: list[str], history: int | None) -> TurnResult:
    agent = sess.agent
    runtime = sess.runtime
    text = agent.prepare(message, literal=literal)
    hooks = (agent.uses_hooks and sess.hooks_reporting) if use_hooks is None else use_hooks
    if history is None:
        history = runtime.status().history_size
    if not hooks:
        settle(sess)
    sent_at = time.time()
    try:
        before = _no_question(sess, runtime.capture())
        sess.read_events()
        type_message(sess, text, clear=_leftover_input(before, agent))
    except TmuxError:
        status = runtime.status()
        if status.alive:
            raise
        raise AgentLost(status.describe(), delivered=False) from None
    sess.reporter.waiting(f"delivering to {agent.name}")
    waiter = HookWait(sess, text, before) if hooks else ScreenWait(sess, text, before)
    try:
        waiter.run()
    except AgentLost as lost:
        lost.sent_text, lost.sent_at = text, sent_at
        lost.confirmed_at, lost.received = waiter.confirmed_at, waiter.received
        raise
    finally:
        sess.reporter.idle()
    if waiter.reply is None:
        try:
            h1 = runtime.status().history_size
            after = runtime.capture(history=max(0, h1 - history))
        except TmuxError:  # gone right after the turn: the next turn restarts it
            after = before
        waiter.reply = agent.reply_from_screen(new_lines(before, after), text)
    return TurnResult(
        message=message, sent_text=text, reply=waiter.reply, ended_by=waiter.ended_by,
        sent_at=sent_at, confirmed_at=waiter.confirmed_at, ended_at=waiter.ended_at,
        reply_at=time.time(), enters=waiter.enters, recovery=tuple(recovery),
        received_text=waiter.received, events=tuple(waiter.seen),
    )


def _no_question(sess: AgentSession, lines: list[str]) -> list[str]:
    """The screen once no question is on it. Text pasted into a question (a permission left
    open, a dialog a person opened) would answer it: wait until someone answers it."""
    if sess.agent.screen_state(lines) is not ScreenState.UNKNOWN_DIALOG:
        return lines
    sess.reporter.note("Claude shows a question; the message waits until it is answered "
                       f"(answer it in tmux: {sess.runtime.attach_command})")
    deadline = time.monotonic() + sess.config.idle_timeout
    sess.reporter.waiting("waiting for Claude's question to be answered")
    try:
        while sess.agent.screen_state(lines) is ScreenState.UNKNOWN_DIALOG:
            if time.monotonic() >= deadline:
                raise DeliveryError("Claude shows a question nobody answered within "
                                    f"{sess.config.idle_timeout:g}s:\n" + "\n".join(lines))
            activity = sess.watcher.wait(min(5.0, deadline - time.monotonic()))
            if activity.hook:
                sess.stash_events()
            if activity.gone or activity.pane_died:
                raise AgentLost(sess.runtime.status().describe(), delivered=False)
            lines = sess.runtime.capture()
    finally:
        sess.reporter.idle()
    return lines


def _leftover_input(lines: list[str], agent: Agent) -> bool:
    """Text in Claude's input box before we paste (a person typed in the attached pane): it
    would be submitted together with our message."""
    held = input_text(lines)
    return held is not None and held != "" and agent.uses_hooks and not held.startswith(
        "Press up to edit")


def await_reply(sess: AgentSession, message: str) -> TurnResult | None:
    """The reply to a message a previous orchestrator sent and then died waiting on.

    Claude's hook record says whether the message was submitted and whether the turn ended; a
    turn still running is waited for. None when the message never reached Claude (so it can be
    delivered now, once).
    """
    if sess.channel is None:
        return None
    text = sess.agent.prepare(message, literal=True)
    events = sess.channel.read_all(time.monotonic())
    submitted = max((i for i, ev in enumerate(events) if ev.name == "UserPromptSubmit"
                     and sess.agent.received_as_sent(str(ev.payload.get("prompt", "")), text)),
                    default=None)
    if submitted is None:
        return None
    now = time.time()
    prompt_id = events[submitted].payload.get("prompt_id") or None
    for ev in events[submitted + 1:]:
        if ends_prompt(ev, prompt_id):
            reply, ended_by = stop_outcome(ev)
            return TurnResult(message, text, reply, ended_by, now, now, now, now,
                              recovery=("reply taken from the hook record",))
    if sess.starts:
        reply = ("[orchestrator: Claude was restarted while working on this message; the "
                 "reply was lost; the message was not sent again.]")
        return TurnResult(message, text, reply, "agent-died", now, now, None, now)
    waiter = HookWait(sess, text)
    waiter.prompt_id = prompt_id
    waiter.confirmed_at = now
    sess.reporter.waiting(f"waiting for {sess.agent.name} to finish the message in flight")
    try:
        waiter.run()
    finally:
        sess.reporter.idle()
    return TurnResult(message, text, waiter.reply or "", waiter.ended_by, now, now,
                      waiter.ended_at, time.time(), recovery=("waited for the turn in flight",))
