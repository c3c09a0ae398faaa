"""Waiting for one turn: that the message was submitted, then that the turn ended.

Two ways, one interface: Claude's hooks (exact, with the screen as watchdog) and the screen alone
(any agent). Both sleep in the watcher's `select()` and wake on events, not on a timer.
"""

from __future__ import annotations

import difflib
import time

from claude_orchestrator.agents import ScreenState
from claude_orchestrator.runtime.hooks import HookEvent
from claude_orchestrator.runtime.tmux import TmuxError
from claude_orchestrator.runtime.watch import Activity
from claude_orchestrator.screen import new_lines
from claude_orchestrator.session import AgentSession

FIRST_LOOK = 0.3  # UserPromptSubmit comes ~0.09 s after Enter: look at the screen after this
CONFIRM_WAIT = 1.0  # then look again this often
MAX_ENTERS = 4
QUIET_CHECK = 2.0  # hook path: look at the screen after this long without drawing
EMPTY_GRACE = 3.0  # screen path: an agent that says nothing yet may still be thinking
STOP_SETTLE = 0.5  # with other Stop hooks: the screen must be still this long after a Stop


class AgentLost(Exception):
    """The pane died or tmux went away during a turn."""

    def __init__(self, reason: str, *, delivered: bool) -> None:
        super().__init__(reason)
        self.delivered = delivered
        # What the attempt had done when the agent was lost (for the turn's record).
        self.sent_text: str | None = None
        self.sent_at: float | None = None
        self.confirmed_at: float | None = None
        self.received: str | None = None


class OutOfTime(Exception):
    """The run's time budget ended while Claude worked; Claude goes on, the turn stays open."""


class DeliveryError(Exception):
    """A message cannot be delivered as written: a garbled copy arrived twice, or a question on
    the agent's screen stays unanswered (exit status 1; the message shows what happened)."""


ECHO_WAIT = 0.5


def wait_for_echo(sess: AgentSession, text: str) -> None:
    """Press Enter only once the pasted text shows in the input box.

    Claude drops an Enter that arrives before its input has taken the paste (measured: 12 of
    12 lost right at start-up; none once the text showed). For an agent without a known input
    box this waits until the paste's echo has stopped drawing, at most ECHO_WAIT.
    """
    deadline = time.monotonic() + ECHO_WAIT
    saw_output = False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        activity = sess.watcher.wait(remaining if not saw_output else min(remaining, 0.03))
        if activity.hook:
            sess.stash_events()
        if activity.gone or activity.pane_died:
            return
        if activity.output:
            saw_output = True
            try:
                lines = sess.runtime.capture()
            except TmuxError:
                return
            if sess.agent.input_pending(lines, text):
                return
        elif saw_output and not sess.agent.uses_hooks:
            return  # echo drawn and quiet: an unknown input area


def type_message(sess: AgentSession, text: str, *, clear: bool = False) -> None:
    """One delivery: (clear the input,) paste, Enter once the paste shows."""
    if clear:
        sess.runtime.press("C-u")
    sess.runtime.paste(text)
    wait_for_echo(sess, text)
    sess.runtime.press("Enter")


def ends_prompt(ev: HookEvent, prompt_id: str | None) -> bool:
    """A Stop or StopFailure for our prompt (any, when either side has no prompt id)."""
    pid = ev.payload.get("prompt_id")
    return ev.name in ("Stop", "StopFailure") and not (prompt_id and pid and pid != prompt_id)


def stop_outcome(ev: HookEvent) -> tuple[str, str]:
    """The reply and how the turn ended, from a Stop (exact text) or a StopFailure (API error)."""
    message = ev.payload.get("last_assistant_message")
    if ev.name == "Stop":
        return str(message or ""), "hook"
    return str(message or f"API Error: {ev.payload.get('error') or ''}"), "api-error"


def _resembles(got: str, sent: str) -> bool:
    """A garbled copy of our text (not someone else's message)."""
    a, b = got.strip()[:2000], sent.strip()[:2000]
    return bool(a) and difflib.SequenceMatcher(None, a, b).ratio() >= 0.6


def settle(sess: AgentSession, limit: float = 5.0) -> None:
    """Before a screen-path turn: let the agent finish drawing the last one (Claude's Stop
    hook fires while its spinner is still on screen), so `before` is the settled screen."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        quiet = time.monotonic() - sess.watcher.last_output
        if quiet >= 0.15:
            try:
                lines = sess.runtime.capture()
            except TmuxError:
                return
            if sess.agent.screen_state(lines) is not ScreenState.BUSY:
                return
        if sess.watcher.wait(max(0.02, 0.15 - quiet)).hook:
            sess.stash_events()


class Waiting:
    """Shared state of the two ways to wait for a turn."""

    knows_submission = False  # True when the agent reports each submit (hooks)

    def __init__(self, sess: AgentSession, text: str) -> None:
        self.sess = sess
        self.text = text
        self.reply: str | None = None
        self.ended_by = ""
        self.confirmed_at: float | None = None
        self.ended_at: float | None = None
        self.enters = 1
        self.received: str | None = None
        self.seen: list[str] = []
        self.started = time.monotonic()

    def check_alive(self) -> None:
        status = self.sess.runtime.status()
        if not status.alive:
            raise AgentLost(status.describe(), delivered=self._maybe_delivered())

    def _maybe_delivered(self) -> bool:
        """Whether the message may have been submitted before the agent died.

        The hook path knows (UserPromptSubmit fires on submit, before any work). The screen
        cannot tell a submitted message from one still in the input box of a frozen dead
        screen, so there it counts as delivered: asking again is better than submitting twice.
        """
        return self.confirmed_at is not None or not self.knows_submission

    def wait(self, timeout: float) -> Activity:
        """The watcher's wait, cut short by the run's time budget (OutOfTime when it is up)."""
        deadline = self.sess.deadline
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise OutOfTime("the time budget ran out while the agent worked")
            timeout = min(timeout, left)
        return self.sess.watcher.wait(timeout)

    def notify(self, message: str) -> None:
        """Claude asks for something mid-turn (e.g. a permission): tell the person where to
        answer it. The idle reminder ("waiting for your input") is not news during a turn."""
        if message and "waiting for your input" not in message:
            self.sess.reporter.note(f"Claude: {message} (answer it in tmux: "
                                    f"{self.sess.runtime.attach_command})")

    def capture(self) -> list[str]:
        """The screen; a failure because tmux went away becomes AgentLost."""
        try:
            return self.sess.runtime.capture()
        except TmuxError:
            self.check_alive()
            raise

    def confirm(self) -> None:
        if self.confirmed_at is None:
            self.confirmed_at = time.time()
            self.sess.reporter.waiting(f"waiting for {self.sess.agent.name} to finish")

    def press_enter_again(self, lines: list[str]) -> bool:
        """Re-send Enter when the input box still holds our text (a swallowed Enter)."""
        if self.enters < MAX_ENTERS and self.sess.agent.input_pending(lines, self.text):
            self.sess.runtime.press("Enter")
            self.enters += 1
            return True
        return False


class HookWait(Waiting):
    """Claude's hooks say when the prompt was submitted and when the turn ended; the screen is
    the watchdog (an interrupted turn fires no hook)."""

    prompt_id: str | None = None
    knows_submission = True

    def __init__(self, sess: AgentSession, text: str, before: list[str] | None = None) -> None:
        super().__init__(sess, text)
        self.before = before or []

    def shows_our_message(self, lines: list[str]) -> bool:
        """Our message's first line is among the lines that appeared since we pasted."""
        first = self.text.strip().split("\n", 1)[0].strip()[:40]
        return bool(first) and any(first in line for line in new_lines(self.before, lines))

    def run(self) -> None:
        sess = self.sess
        agent = sess.agent
        confirm_deadline = time.monotonic() + FIRST_LOOK
        quiet_checked = 0.0
        garbled: str | None = None  # prompt_id of a garbled copy of our text
        busy_seen = 0.0  # when the screen last said "busy" at an idle-timeout check
        stop_seen = 0.0  # a Stop that the screen must confirm (other Stop hooks exist)
        redelivered = False
        while True:
            now = time.monotonic()
            if self.confirmed_at is None:
                timeout = confirm_deadline - now
            elif stop_seen:
                timeout = sess.watcher.last_output + STOP_SETTLE - now
            elif sess.watcher.last_output > quiet_checked:
                timeout = sess.watcher.last_output + QUIET_CHECK - now
            else:  # looked already: sleep until the screen moves (or the idle timeout)
                timeout = (max(sess.watcher.last_output, busy_seen)
                           + sess.config.idle_timeout - now)
            activity = self.wait(max(0.02, timeout))
            if activity.gone or activity.pane_died:
                self.check_alive()
            for ev in sess.read_events() if activity.hook else []:
                self.seen.append(ev.name)
                if ev.name == "Notification":
                    self.notify(str(ev.payload.get("message") or ""))
                if ev.name == "UserPromptSubmit" and self.confirmed_at is None:
                    got = str(ev.payload.get("prompt", ""))
                    if not agent.received_as_sent(got, self.text):
                        if not _resembles(got, self.text):
                            continue  # someone else's message (typed in tmux): ours is queued
                        if redelivered:
                            raise DeliveryError(
                                "Claude received a different text twice.\n--- sent:\n"
                                f"{self.text}\n--- received:\n{got}")
                        garbled = str(ev.payload.get("prompt_id") or "?")
                        sess.reporter.note("Claude received a garbled copy of the message; "
                                           "it is delivered once more when that turn ends")
                        continue
                    self.received = got
                    self.prompt_id = ev.payload.get("prompt_id") or None
                    self.confirm()
                elif (ev.name in ("Stop", "StopFailure") and garbled and not redelivered
                      and self.confirmed_at is None
                      and str(ev.payload.get("prompt_id") or "?") in (garbled, "?")):
                    redelivered = True
                    type_message(sess, self.text, clear=True)
                    self.enters += 1
                    confirm_deadline = time.monotonic() + FIRST_LOOK
                elif self.confirmed_at is not None and ends_prompt(ev, self.prompt_id):
                    self.ended_at = ev.read_at - time.monotonic() + time.time()
                    self.reply, self.ended_by = stop_outcome(ev)
                    if not sess.stop_hooks_elsewhere:
                        return
                    stop_seen = time.monotonic()  # another Stop hook may make Claude go on
            if stop_seen and time.monotonic() - sess.watcher.last_output >= STOP_SETTLE:
                if agent.screen_state(self.capture()) is not ScreenState.BUSY:
                    return
                stop_seen = 0.0  # a user's Stop hook sent Claude back to work: wait on
                self.reply = None
            now = time.monotonic()
            if self.confirmed_at is None and now >= confirm_deadline:
                lines = self.capture()
                self.check_alive()
                if self.press_enter_again(lines):
                    confirm_deadline = now + CONFIRM_WAIT * self.enters
                    continue
                state = agent.screen_state(lines)
                if state is ScreenState.BUSY or now - self.started < 10 * CONFIRM_WAIT:
                    # Working, or queued behind a turn: submitted but not yet taken up.
                    confirm_deadline = now + CONFIRM_WAIT
                    continue
                if self.shows_our_message(lines):
                    # Submitted, but no hook said so (hooks disabled by the user's settings?):
                    # the screen decides from here on.
                    sess.reporter.note("Claude took the message but its hooks did not report "
                                       "it; the screen decides when the turn ends")
                    self.confirm()
                    continue
                # Idle with an empty input and no submit: the text never arrived.
                raise AgentLost("the message did not arrive", delivered=False)
            if (self.confirmed_at is not None
                    and now - sess.watcher.last_output >= QUIET_CHECK
                    and sess.watcher.last_output > quiet_checked):
                quiet_checked = sess.watcher.last_output
                lines = self.capture()
                self.check_alive()
                if agent.screen_state(lines) is ScreenState.IDLE:
                    # Idle without a Stop: interrupted (Escape) or a turn no hook reports.
                    self.ended_at = time.time()
                    self.ended_by = "screen"
                    return
            if (self.confirmed_at is not None
                    and now - max(sess.watcher.last_output, busy_seen)
                    >= sess.config.idle_timeout):
                if agent.screen_state(self.capture()) is ScreenState.BUSY:
                    # Claude says it works (a long tool call that does not redraw): not idle.
                    busy_seen = time.monotonic()
                    continue
                self.ended_at = time.time()
                self.ended_by = "idle-timeout"
                return


class ScreenWait(Waiting):
    """Any agent: submitted when the screen moved on from our text; ended when the screen
    changed and then stayed still for the stability window (and does not say it is busy)."""

    def __init__(self, sess: AgentSession, text: str, before: list[str]) -> None:
        super().__init__(sess, text)
        self.before = before

    def run(self) -> None:
        sess = self.sess
        cfg = sess.config
        started = time.monotonic()
        confirm_deadline = started + CONFIRM_WAIT
        window = cfg.stable_window
        judged = -1.0  # the still screen (named by its last drawing time) already looked at
        asked = False
        while True:
            now = time.monotonic()
            drawn = max(sess.watcher.last_output, started)
            if self.confirmed_at is None:
                timeout = min(window - (now - drawn), confirm_deadline - now)
            elif drawn != judged:
                timeout = window - (now - drawn)
            else:  # judged already: sleep until it draws again, or until a wait runs out
                due = [t for t in (drawn + EMPTY_GRACE, drawn + cfg.idle_timeout) if t > now]
                timeout = (min(due) if due else now + window) - now
            activity = self.wait(max(0.01, timeout))
            if activity.hook:
                sess.read_events()
            if activity.gone or activity.pane_died:
                self.check_alive()
            now = time.monotonic()
            drawn = max(sess.watcher.last_output, started)
            quiet_for = now - drawn
            if self.confirmed_at is None:
                if quiet_for < min(window, 0.05) and now < confirm_deadline:
                    continue
                lines = self.capture()
                if lines == self.before or sess.agent.input_pending(lines, self.text):
                    if now < confirm_deadline or quiet_for < window:
                        continue
                    if self.press_enter_again(lines):
                        confirm_deadline = now + CONFIRM_WAIT * self.enters
                        continue
                    self.check_alive()
                    if lines == self.before:
                        raise AgentLost("the message did not arrive", delivered=False)
                    continue
                self.confirm()
            if quiet_for < window:
                continue  # still drawing: no need to look
            lines = self.capture()
            judged = drawn
            state = sess.agent.screen_state(lines)
            if state is ScreenState.BUSY:
                continue
            if state is ScreenState.UNKNOWN_DIALOG:
                # A question mid-turn (e.g. a permission): not an answer. Wait for a person.
                if not asked:
                    asked = True
                    self.notify("the agent shows a question")
                continue
            self.check_alive()
            if lines == self.before and quiet_for < cfg.idle_timeout:
                continue
            reply = sess.agent.reply_from_screen(new_lines(self.before, lines), self.text)
            if not reply.strip() and quiet_for < EMPTY_GRACE:
                continue
            if quiet_for >= cfg.idle_timeout and not reply.strip():
                self.ended_by = "idle-timeout"
            else:
                self.ended_by = "screen"
            self.ended_at = time.time() - quiet_for
            return
