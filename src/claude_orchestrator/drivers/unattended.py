"""What an unattended run does when Claude's API fails: a turn's outcome by StopFailure's `error`
(agents/limits.py), a pause for a usage limit that costs no iteration and no supervisor call,
the same message once more after a transient failure, a stop for one that cannot pass.

    rate_limit                                  pause until the limit resets (plus a minute),
                                                then the interrupted turn goes on exactly once
    server_error, overloaded, unknown           the same message again after 30 s, 2 min,
                                                10 min (Claude already retried), then told
    authentication_failed, billing_error, ...   stop: exit 5 with Claude's text
    invalid_request, max_output_tokens          the supervisor is told

The pause goes on the way the running Claude supports (measured, both releases): where Claude
goes on by itself after the reset (2.1.332: `Continuing automatically at …`, then its own prompt
and a Stop), that continuation's Stop ends the interrupted turn and nothing is sent; otherwise
(2.1.197's limit menu is closed with Escape first; an API key's 429 on both) the same message is
delivered again, word for word, once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from claude_orchestrator.agents.limits import (
    Failure,
    continues_by_itself,
    failure_kind,
    limit_menu,
    limit_reset,
)
from claude_orchestrator.errors import AgentCannotWork, BudgetExhausted, OutOfTime
from claude_orchestrator.progress import Activity
from claude_orchestrator.runtime.hooks import HookName
from claude_orchestrator.session import AgentSession
from claude_orchestrator.turn.driver import run_turn
from claude_orchestrator.turn.ledger import prompt_id_of
from claude_orchestrator.turn.result import EndedBy, TurnResult

TRANSIENT_BACKOFF = (30.0, 120.0, 600.0)
AFTER_RESET = 60.0  # a limit's reset time is to the minute: wait a minute more
LONGEST_FALLBACK = 3600.0
AUTO_GRACE = 300.0  # after the reset, how long Claude may take to go on by itself


class ClaudeRefused(AgentCannotWork):
    """Claude Code's API refuses for good: authentication, billing, an unknown model (exit 5)."""


@dataclass(frozen=True)
class PauseLimits:
    """How long a pause may be: `limit_wait` when Claude names no reset time (doubling for each
    further limit, to an hour), `max_pause` at most for one pause (past it: exit 3)."""

    limit_wait: float = 300.0
    max_pause: float = 6 * 3600.0


Recorder = Callable[..., int]


class Unattended:
    """Delivers a message and sees its turn through API failures and usage limits.

    `on_pause(reason, until, text) -> pause id` and `on_pause_end(pause id)` let the run log
    record each pause; a pause already open (a run stopped during one) is passed in to go on
    with it.
    """

    def __init__(self, sess: AgentSession, limits: PauseLimits, *,
                 on_pause: Recorder | None = None,
                 on_pause_end: Callable[[int], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.sess = sess
        self.limits = limits
        self.on_pause = on_pause
        self.on_pause_end = on_pause_end
        self.clock = clock
        self.limits_in_a_row = 0

    def deliver(self, message: str, *, literal: bool = True) -> TurnResult:
        return self.settle(message, run_turn(self.sess, message, literal=literal),
                           literal=literal)

    def settle(self, message: str, result: TurnResult, *, literal: bool = True) -> TurnResult:
        """The turn's outcome once failures that can pass have passed."""
        transient = 0
        while result.ended_by == EndedBy.API_ERROR:
            kind = failure_kind(result.error)
            if kind is Failure.LIMIT:
                result = self._limit_pause(message, result, literal=literal)
                self.limits_in_a_row += 1
                continue
            self.limits_in_a_row = 0
            if kind is Failure.FATAL:
                raise ClaudeRefused(f"{self.sess.agent.title}'s API refuses ({result.error}): "
                                    f"{result.reply}")
            if kind is Failure.TRANSIENT and transient < len(TRANSIENT_BACKOFF):
                wait = TRANSIENT_BACKOFF[transient]
                transient += 1
                pause = self._record("API failure", self.clock() + wait, result.reply)
                self._sleep(wait, f"paused: {self.sess.agent.title}'s API failed "
                                  f"({result.error}); the same "
                                  f"message again in {_span(wait)}", Activity.PAUSED_API)
                self._end(pause)
                again = run_turn(self.sess, message, literal=literal)
                result = replace(again, recovery=(*result.recovery, *again.recovery,
                                                  f"delivered again after {result.error}"))
                continue
            break
        self.limits_in_a_row = 0
        return result

    # ----------------------------------------------------------------- usage limits
    def _limit_pause(self, message: str, result: TurnResult, *, literal: bool) -> TurnResult:
        sess = self.sess
        lines = self._screen_after_limit()
        now = datetime.fromtimestamp(self.clock(), tz=UTC)
        local = _claude_zone(sess.env)
        reset = limit_reset(result.reply, now, local) or limit_reset("\n".join(lines), now, local)
        if reset is not None:
            until = max(reset.timestamp(), now.timestamp()) + AFTER_RESET
        else:
            wait = min(self.limits.limit_wait * 2 ** self.limits_in_a_row, LONGEST_FALLBACK)
            until = now.timestamp() + wait + AFTER_RESET
        if until - now.timestamp() > self.limits.max_pause:
            raise BudgetExhausted(f"the usage limit resets at {_clock(until)}, later than "
                                  f"--max-pause ({_span(self.limits.max_pause)}) allows", "pause")
        by_itself = continues_by_itself(lines)
        if limit_menu(lines):
            sess.runtime.press("Escape")  # 2.1.197: the menu would swallow the next message
        pause = self._record("usage limit", until, result.reply)
        what = f"paused: usage limit, resumes {_clock(until)}"
        sess.reporter.note(f"{what} ({result.reply.strip()})")
        try:
            if by_itself:
                continued = self._await_continuation(until, what, Activity.PAUSED_LIMIT)
                if continued is not None:
                    return replace(continued, message=result.message,
                                   sent_text=result.sent_text, sent_at=result.sent_at,
                                   recovery=(*result.recovery, "Claude went on by itself "
                                             "after the usage limit reset"))
            else:
                self._sleep(until - self.clock(), what, Activity.PAUSED_LIMIT)
        finally:
            self._end(pause)
        sess.reporter.note("the usage limit has reset; the same message again")
        again = run_turn(sess, message, literal=literal)
        return replace(again, recovery=(*result.recovery, *again.recovery,
                                        "delivered again after the usage limit reset"))

    def _screen_after_limit(self) -> list[str]:
        """The screen once Claude drew what follows the limit (a menu, a notice)."""
        sess = self.sess
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            sess.watcher.wait(end - time.monotonic())
        try:
            return sess.runtime.capture(history=20)
        except Exception:
            return []

    def _await_continuation(self, until: float, what: str,
                            activity: Activity) -> TurnResult | None:
        """Wait for Claude to go on by itself after the reset: its own prompt, then that
        turn's Stop (whose reply ends the interrupted turn). None when it does not come."""
        sess = self.sess
        deadline = min(until + AUTO_GRACE, self.clock() + self.limits.max_pause)
        theirs: str | None = None
        started: float | None = None
        while True:
            left = deadline - self.clock()
            if left <= 0:
                return None
            self._status(what, until, activity)
            self._wait_once(min(left, 5.0))
            for ev in sess.read_events():
                pid = prompt_id_of(ev.payload)
                if ev.name == HookName.USER_PROMPT_SUBMIT and theirs is None:
                    theirs, started = pid or "", self.clock()
                elif ev.name in (HookName.STOP, HookName.STOP_FAILURE) and theirs is not None and (
                        not theirs or not pid or pid == theirs):
                    now = self.clock()
                    reply = str(ev.payload.get("last_assistant_message") or "")
                    return TurnResult(
                        message="", sent_text="", reply=reply,
                        ended_by=EndedBy.HOOK if ev.name == HookName.STOP
                        else EndedBy.API_ERROR,
                        sent_at=started or now, confirmed_at=started, ended_at=now,
                        reply_at=now, enters=0, error=str(ev.payload.get("error") or ""),
                        prompt_id=pid)
            if theirs is None and self.clock() > until + 30:
                try:
                    still = continues_by_itself(sess.runtime.capture(history=20))
                except Exception:
                    still = False
                if not still:
                    return None  # the automatic continuation was cancelled

    # ----------------------------------------------------------------- waiting
    def _sleep(self, seconds: float, what: str, activity: Activity) -> None:
        until = self.clock() + max(0.0, seconds)
        while True:
            left = until - self.clock()
            if left <= 0:
                return
            self._status(what, until, activity)
            self._wait_once(min(left, 5.0))
            self.sess.read_events()  # the ledger stays current

    def _wait_once(self, seconds: float) -> None:
        sess = self.sess
        if sess.deadline is not None:
            left = sess.deadline - time.monotonic()
            if left <= 0:
                raise OutOfTime("time budget reached during a pause")
            seconds = min(seconds, left)
        sess.watcher.wait(max(0.0, seconds))

    def _status(self, what: str, until: float, activity: Activity) -> None:
        self.sess.reporter.waiting(f"{what} (in {_span(max(0.0, until - self.clock()))})",
                                   activity)

    def _record(self, reason: str, until: float, text: str) -> int | None:
        if self.on_pause is None:
            return None
        return self.on_pause(reason, datetime.fromtimestamp(until, tz=UTC), text)

    def _end(self, pause: int | None) -> None:
        self.sess.reporter.idle()
        if pause is not None and self.on_pause_end is not None:
            self.on_pause_end(pause)


def _claude_zone(env: dict[str, str]) -> tzinfo | None:
    """Claude's time zone: its TZ, else this machine's."""
    name = env.get("TZ") or os.environ.get("TZ")
    if name:
        try:
            return ZoneInfo(name.lstrip(":"))
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return datetime.now().astimezone().tzinfo


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M")


def _span(seconds: float) -> str:
    """`41m`, `2h05m`, `30s`.

    >>> _span(2460), _span(7500), _span(30)
    ('41m', '2h05m', '30s')
    """
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    return f"{minutes // 60}h{minutes % 60:02d}m"

