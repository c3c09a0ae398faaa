"""One run's lifecycle, shared by chat and autonomous mode: started in the run log, each turn
recorded as it begins and ends, finished with an outcome whose exit status comes from the error
root (shared/decisions.md, "Exit status")."""

from __future__ import annotations

import contextlib
import shlex
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from claude_orchestrator.agents import UnknownDialog, select_agent
from claude_orchestrator.agents.prices import price
from claude_orchestrator.agents.transcript import TurnWork
from claude_orchestrator.config import Config
from claude_orchestrator.drivers.usage import UsageCollector
from claude_orchestrator.drivers.work import commit_work
from claude_orchestrator.errors import (
    AgentCannotWork,
    BudgetExhausted,
    DeliveryError,
    NoProgress,
    OrchestratorError,
    SupervisorRefused,
    Terminated,
)
from claude_orchestrator.progress import Activity, Reporter, RunEvent
from claude_orchestrator.runlog import RunLog
from claude_orchestrator.screen import terminal_safe
from claude_orchestrator.secrets import Redactor
from claude_orchestrator.session import AgentSession, StartFailed
from claude_orchestrator.turn import TurnResult

EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM = 0, 130, 143


@dataclass
class Outcome:
    """How a run ended: its status in the run log, the exit status, one line (or a screen),
    and the one command that continues it (empty when nothing is left to do)."""

    status: str  # complete | quit | budget | refused | failed | interrupted | stuck
    exit_code: int
    message: str
    summary: str = ""
    next_step: str = ""


def outcome_of(error: BaseException, run_id: str, *, resumable: bool = True,
               config: Config | None = None) -> Outcome:
    """The outcome a failure gives the run, with the way on when the run can be resumed."""
    resume = f"claude-orchestrator resume {run_id}"
    attach = config_attach(config)
    if isinstance(error, Terminated):
        return Outcome("interrupted", EXIT_SIGTERM, "terminated",
                       next_step=resume if resumable else "")
    if isinstance(error, KeyboardInterrupt):
        return Outcome("interrupted", EXIT_SIGINT, "interrupted",
                       next_step=resume if resumable else "")
    if isinstance(error, (StartFailed, UnknownDialog)):
        screen = error.screen.strip()
        label = "last screen" if isinstance(error, StartFailed) else "screen"
        way = ""
        if resumable and isinstance(error, UnknownDialog) and attach:
            way = f"answer it in tmux ({attach}), then: {resume}"
        elif resumable:
            way = resume
        return Outcome("failed", error.exit_status,
                       str(error) + (f"\n--- {label}:\n{screen}" if screen else ""),
                       next_step=way)
    if isinstance(error, SupervisorRefused):
        return Outcome("refused", error.exit_status, str(error),
                       next_step=f"fix it, then: {resume}" if resumable else "")
    if isinstance(error, BudgetExhausted):
        return Outcome("budget", error.exit_status, str(error),
                       next_step=_more_budget(error, resume, config) if resumable else "")
    if isinstance(error, NoProgress):
        return Outcome("stuck", error.exit_status, str(error),
                       next_step=(f"read what happened (claude-orchestrator show {run_id}), "
                                  f"then: {resume}") if resumable else "")
    if isinstance(error, DeliveryError) and "question" in str(error) and attach:
        return Outcome("failed", error.exit_status, str(error),
                       next_step=(f"answer it in tmux ({attach}), then: {resume}"
                                  if resumable else f"answer it in tmux: {attach}"))
    if isinstance(error, AgentCannotWork):
        who = select_agent(config.agent, config.claude_argv).title if config else "the agent"
        return Outcome("failed", error.exit_status, str(error),
                       next_step=f"fix {who}'s login or key, then: {resume}"
                       if resumable else "")
    if isinstance(error, OrchestratorError):
        return Outcome("failed", error.exit_status, str(error),
                       next_step=resume if resumable else "")
    return Outcome("failed", 1, f"{type(error).__name__}: {error}",
                   next_step=resume if resumable else "")


def config_attach(config: Config | None) -> str:
    """The command that shows the run's Claude (empty without a config)."""
    if config is None:
        return ""
    return f"tmux -L {shlex.quote(config.socket)} attach -t {shlex.quote(config.session)}"


def _more_budget(error: BudgetExhausted, resume: str, config: Config | None) -> str:
    """`resume ID --max-... N`: the budget that ran out, raised to a new total (limits given
    to resume are totals for the whole run, not increments)."""
    if config is None:
        return resume
    if error.budget == "iterations" and config.max_iterations:
        return (f"{resume} --max-iterations {config.max_iterations * 2} "
                "(a new total, not an increment)")
    if error.budget == "cost" and config.max_cost:
        return f"{resume} --max-cost {config.max_cost * 2:g} (a new total, not an increment)"
    if error.budget == "time" and config.max_time:
        return f"{resume} --max-time {_duration(config.max_time)} (counted from the resume)"
    if error.budget == "pause":
        return f"{resume} --max-pause {_duration(config.max_pause * 2)}"
    return resume


def _duration(seconds: float) -> str:
    """`90m`, `2h`, `45s`: a duration as a flag takes it.

    >>> _duration(5400), _duration(7200), _duration(45.5)
    ('90m', '2h', '45.5s')
    """
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


class Run:
    """A run in the log, with the session it drives."""

    def __init__(self, log: RunLog, run_id: str, sess: AgentSession, config: Config) -> None:
        self.log = log
        self.id = run_id
        self.sess = sess
        self.config = config
        self.redact = log.redact
        self._unpriced: set[str] = set()
        self.usage = UsageCollector(self._add_work, reader=sess.agent.turn_work)
        sess.on_session_id = lambda sid: log.set_agent_session(run_id, sid)
        if isinstance(self.redact, Redactor):
            sess.record_mask = self.redact.mask
        self._in_flight: int | None = None  # the turn whose message is on its way
        sess.reporter = ActivityReporter(sess.reporter, self._activity, self._confirmed)

    def _confirmed(self) -> None:
        """Claude confirmed the message on its way: said in the log now (the page shows it),
        not only when the turn ends (its exact time is written with the reply)."""
        if self._in_flight is not None:
            self.log.mark_delivered(self.id, self._in_flight)
            self._in_flight = None

    def _activity(self, what: str) -> None:
        """What the run does now, in the log; a question nobody answers is told at once."""
        self.log.set_activity(self.id, what)
        if what.startswith("waiting"):
            self.tell("needs-you", "Claude shows a question nobody has answered")

    def tell(self, kind: str, detail: str = "", until: datetime | None = None) -> None:
        """A run event for notifications (never a reason to stop the run)."""
        with contextlib.suppress(Exception):
            self.sess.reporter.event(RunEvent(kind, self.id, detail, until))

    def pause_started(self, turn_seq: int | None, reason: str, until: datetime | None,
                      text: str) -> int:
        """A pause begins: in the log, and told (a usage limit's, with its reset)."""
        seq = self.log.begin_pause(self.id, turn_seq=turn_seq, reason=reason, until=until,
                                   text=text)
        self.tell("pause", reason, until)
        return seq

    def pause_ended(self, pause: int) -> None:
        self.log.end_pause(self.id, pause)
        self.tell("pause-end")

    def show(self, text: str) -> str:
        """Text fit to print: secrets out, control sequences visible (SECURITY.md)."""
        return terminal_safe(self.redact(text))

    def begin_turn(self, message: str, source: str = "supervisor") -> int:
        """Record a message before it is delivered (with where the hook record ends now, so a
        resume looks only at what came after it)."""
        seq = self.log.begin_turn(self.id, message, mark=self.sess.events_mark(),
                                  source=source).seq
        self._in_flight = seq
        return seq

    def record_exchange(self, prompt: str, reply: str, source: str = "person") -> None:
        """A message someone gave Claude at the pane (`source`: a person, or unattributed),
        and Claude's reply: a turn of theirs."""
        seq = self.log.begin_turn(self.id, prompt, source=source).seq
        self.log.finish_turn(self.id, seq, reply=reply, ended_by="hook")

    def record_turn(self, seq: int, result: TurnResult) -> None:
        """The turn's result, at once; Claude's own tokens for it follow from its transcript in
        the background (drivers/usage.py: the reply is never held back for them)."""
        self.log.finish_turn(self.id, seq, reply=result.reply, ended_by=result.ended_by,
                             ended_at=_utc(result.ended_at or result.reply_at),
                             recovery="; ".join(result.recovery) or None,
                             timings=result.timings(), error_kind=result.error or None,
                             output=result.output,
                             delivered_at=_utc(result.confirmed_at) if result.confirmed_at
                             else None)
        if result.transcript is None or result.ended_by not in ("hook", "api-error", "screen"):
            return
        self.usage.collect(seq, *result.transcript, prompt=result.received_text or None,
                           reply=result.reply if result.ended_by == "hook" else None)

    def _add_work(self, seq: int, work: TurnWork) -> None:
        """A turn's tokens (priced: an estimate) and the tools it used, into the run log."""
        cost = 0.0
        for t in work.tokens:
            amount, unknown = price(t)
            cost += amount
            if unknown and t.model not in self._unpriced:
                self._unpriced.add(t.model)
                self.sess.reporter.note(f"{self.sess.agent.name}'s model {t.model!r} is not in "
                                        "the price table; its tokens are priced as the "
                                        "dearest model's")
        self.log.add_claude_usage(self.id, seq, work.tokens, cost)
        if work.tools:
            self.log.set_turn_tools(self.id, seq, [t.as_dict() for t in work.tools])

    def finish(self, outcome: Outcome) -> None:
        """Record the outcome and leave (or kill, per TERMINATE_WHEN_QUIT) the tmux session.
        Shielded from further Ctrl-C or SIGTERM: a run must never stay `running` because the
        person pressed Ctrl-C three times."""
        with shielded():
            try:
                self.usage.settle()  # the run's totals hold every turn's tokens
                self.sess.close(terminate=self.config.terminate_when_quit,
                                keep_record=outcome.status not in ("complete", "quit"))
                said = commit_work(self.log, self.id, outcome.status,
                                   outcome.message.split("\n", 1)[0],
                                   agent_left_running=not self.config.terminate_when_quit)
                if said:
                    self.sess.reporter.note(said)
            finally:
                self.log.finish_run(self.id, status=outcome.status,
                                    exit_code=outcome.exit_code,
                                    message=outcome.message.split("\n", 1)[0],
                                    next_step=outcome.next_step)
                self.tell("end", outcome.status)


class ActivityReporter:
    """Passes everything on to the person's reporter, and keeps the run log's `activity` (what
    the run does now, for `runs --watch`) in step with the status line: the activity comes
    typed from where the status is decided, never read out of the status's words."""

    def __init__(self, inner: Reporter, record: Callable[[Activity], None],
                 confirmed: Callable[[], None] = lambda: None) -> None:
        self.inner = inner
        self.record = record
        self.confirmed = confirmed  # told when a message on its way is confirmed (at work)
        self.activity: Activity | None = None

    def note(self, message: str) -> None:
        self.inner.note(message)

    def waiting(self, what: str, activity: Activity = Activity.WORKING) -> None:
        self.inner.waiting(what, activity)
        if activity != self.activity:
            was, self.activity = self.activity, activity
            with contextlib.suppress(Exception):  # a busy log must not stop the work
                self.record(activity)
                if was is Activity.DELIVERING and activity is Activity.WORKING:
                    self.confirmed()

    def idle(self) -> None:
        self.inner.idle()

    def context(self, text: str) -> None:
        self.inner.context(text)

    def event(self, event: RunEvent) -> None:
        self.inner.event(event)

    def transcript(self, heading: str, text: str) -> None:
        self.inner.transcript(heading, text)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Ignore SIGINT, SIGTERM and SIGHUP while the body runs (in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    kinds = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = [signal.signal(kind, signal.SIG_IGN) for kind in kinds]
    try:
        yield
    finally:
        for kind, handler in zip(kinds, before, strict=True):
            signal.signal(kind, handler)


_STOPPERS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


@dataclass
class _Hold:
    """While signals are held: the handlers put aside, the one noting, and what came."""

    put_aside: dict[signal.Signals, Any]  # what signal.getsignal gave
    came: list[int]
    note: Callable[[int, FrameType | None], None]


_held: list[_Hold] = []


@contextlib.contextmanager
def held_signals() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP back (not lost: delivered when released) from writing
    a run's row until the code that records its ending is in place (`release_signals` there,
    or at the latest on leaving): a signal in between left the run `running` for ever.
    Held by Python handlers that only note the signal, not by the signal mask: the mask is
    per thread, and with any other thread alive (a connection pool's, the usage collector's)
    the kernel hands a process's signal to that one, whose Python handler then runs anyway."""
    if threading.current_thread() is not threading.main_thread() or _held:
        yield
        return
    came: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        came.append(signum)

    _held.append(_Hold({sig: signal.getsignal(sig) for sig in _STOPPERS}, came, note))
    for sig in _STOPPERS:
        signal.signal(sig, note)
    try:
        yield
    finally:
        release_signals()


def release_signals() -> None:
    """Let held signals in: the handlers put aside are back (unless one was set meanwhile), and
    a signal that came meanwhile is raised again here, once per kind."""
    if threading.current_thread() is not threading.main_thread() or not _held:
        return
    hold = _held.pop()
    for sig, handler in hold.put_aside.items():
        if signal.getsignal(sig) is hold.note:
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
    for signum in dict.fromkeys(hold.came):
        signal.raise_signal(signum)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)
