"""The public API: drive Claude Code from Python.

    from claude_orchestrator import Session, run_task
    with Session("~/src/project") as claude:          # starts or adopts Claude in tmux
        turn = claude.send("explain main.py")          # -> Turn: reply, ended_by, timings
    result = run_task("add a --verbose flag", workdir="~/src/project", verify="pytest -q",
                      max_cost=5.0)                     # -> RunResult: status, summary, cost

Settings take the names of the command line's flags (`socket`, `session`, `claude_cmd`,
`max_cost`, `idle_timeout`...); what is not given comes from the environment and `./.env`-free
defaults, as for the command line. Errors are the error root's (`claude_orchestrator.errors`),
each with its exit status. The command line's chat and autonomous modes are thin layers over
`Session` and `run_task`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from claude_orchestrator.config import BY_DEST, Config, resolve
from claude_orchestrator.drivers.result import RunResult
from claude_orchestrator.errors import ConfigError
from claude_orchestrator.progress import QuietReporter, Reporter
from claude_orchestrator.secrets import Redactor, url_secrets
from claude_orchestrator.turn.ledger import Exchange, late_reply
from claude_orchestrator.turn.result import TurnResult as Turn

__all__ = ["RunResult", "Session", "Turn", "make_config", "run_task"]


def make_config(workdir: str | Path | None = None, *, environ: Mapping[str, str] | None = None,
                task: str | None = None, **settings: Any) -> Config:
    """A validated Config from settings named like the flags (`max_cost=5.0`), the environment
    filling in the rest."""
    unknown = sorted(set(settings) - set(BY_DEST))
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r} (the names are the flags', e.g. "
                          "max_cost, idle_timeout, socket)")
    flags = {k: v for k, v in settings.items() if v is not None}
    env = dict(os.environ if environ is None else environ)
    return resolve(flags, env, workdir=str(Path(workdir).expanduser()) if workdir else None,
                   task=task)


def redactor_for(config: Config, environ: Mapping[str, str] | None = None) -> Redactor:
    """What keeps this run's secrets (the key, the withheld variables) out of all output."""
    env = os.environ if environ is None else environ
    return Redactor([config.api_key or "", *(env.get(n, "") for n in config.withhold_env),
                     *(s for url in config.notify for s in url_secrets(url))])


class Session:
    """Claude Code in a tmux session, started (or adopted when it already runs) on entry.

    `send` delivers one message exactly once and returns its `Turn`; usage limits and API
    failures are waited out as in an unattended run. With `record`, the session is a chat run in
    the run log (`claude-orchestrator runs` lists it).
    """

    def __init__(self, workdir: str | Path = ".", *, reporter: Reporter | None = None,
                 record: bool = True, config: Config | None = None,
                 redact: Redactor | None = None, **settings: Any) -> None:
        from claude_orchestrator.drivers.lifecycle import (
            Run,
            held_signals,
            outcome_of,
            release_signals,
        )
        from claude_orchestrator.drivers.unattended import PauseLimits, Unattended
        from claude_orchestrator.runlog import open_runlog
        from claude_orchestrator.session import AgentSession

        self.config = config or make_config(workdir, **settings)
        self._quiet = reporter is None
        self.reporter = reporter or QuietReporter()
        self.redact = redact or redactor_for(self.config)
        self.run: Run | None = None
        log = None
        if record:
            log = open_runlog(self.config.runlog, redact=self.redact, on_busy=self.reporter.note)
        try:
            self.agent = AgentSession(self.config, self.reporter)
        except BaseException:
            if log is not None:
                log.close()
            raise
        if log is not None:
            c = self.config
            with held_signals():  # a signal now must not leave the row `running` for ever
                record_ = log.start_run(mode="chat", task="", workdir=str(c.workdir),
                                        model=None, session=c.session, socket=c.socket,
                                        settings=c.public_settings())
                self.run = Run(log, record_.id, self.agent, c)
                try:
                    release_signals()
                except BaseException as e:
                    ended = outcome_of(e, record_.id, resumable=False)
                    self.run.finish(ended)
                    log.close()
                    raise
        self._turn: int | None = None
        self._cancelled: list[tuple[int, str, int]] = []  # (turn, text sent, events mark)
        self._unattended = Unattended(
            self.agent, PauseLimits(self.config.limit_wait, self.config.max_pause),
            on_pause=self._pause_started if self.run else None,
            on_pause_end=self._pause_ended if self.run else None)
        self.closed = False

    # ----------------------------------------------------------------- the session
    @property
    def attach_command(self) -> str:
        """What a person types to watch Claude live."""
        return self.agent.attach_command

    @property
    def run_id(self) -> str | None:
        return self.run.id if self.run else None

    def start(self) -> Session:
        self.agent.ensure_ready()
        return self

    def nothing_to_send(self, text: str, *, literal: bool = True) -> bool:
        """Whether `text` is empty once control characters are removed (it would not be sent:
        `send` answers it with a turn ended by `nothing-to-send`)."""
        return not self.agent.agent.prepare(text, literal=literal)

    def send(self, text: str, *, literal: bool = True, source: str = "api") -> Turn:
        """Deliver `text` (exactly; with `literal`, `/` and `!` text is a prompt, never a
        command) and return Claude's reply to it. Text that is empty once control characters
        are removed is not sent (nor recorded): its turn ends by `nothing-to-send`."""
        if self.nothing_to_send(text, literal=literal):
            return self._unattended.deliver(text, literal=literal)
        self._late_replies()
        self._turn = self.run.begin_turn(text, source=source) if self.run else None
        try:
            turn = self._unattended.deliver(text, literal=literal)
        except KeyboardInterrupt:
            if self.run and self._turn is not None:
                self.run.log.fail_turn(self.run.id, self._turn, "wait cancelled by the user")
                mark = self.run.log.turns(self.run.id)[-1].events_mark or 0
                self._cancelled.append((self._turn, self.agent.agent.prepare(
                    text, literal=literal), mark))
            raise
        if self.run and self._turn is not None:
            self.run.record_turn(self._turn, turn)
        return turn

    def _late_replies(self) -> None:
        """Replies that came after their wait was cancelled (Claude went on): recorded on
        their turn, said as such."""
        if not self._cancelled or self.run is None or self.agent.channel is None:
            return
        events = self.agent.channel.read_all()
        profile = self.agent.agent
        for item in list(self._cancelled):
            seq, sent, mark = item

            def ours(got: str, sent: str = sent) -> bool:
                return profile.received_as_sent(got, sent)

            reply = late_reply([(ev.name, ev.payload) for ev in events if ev.pos > mark], ours)
            if reply is not None:
                self.run.log.finish_turn(self.run.id, seq, reply=reply, ended_by="hook",
                                         recovery="the reply came after the wait was "
                                                  "cancelled")
                self._cancelled.remove(item)

    def exchanges(self) -> list[Exchange]:
        """Messages someone else gave Claude since last asked, with Claude's replies:
        `(prompt, reply, by_person)`, where `by_person` says a person's terminal was attached
        and active when it came (otherwise the text is unattributed: the code Claude runs can
        type into its pane). Recorded in the run log as such."""
        taken = self.agent.take_exchanges()
        if self.run:
            for prompt, reply, by_person in taken:
                self.run.record_exchange(prompt, reply,
                                         source="person" if by_person else "unattributed")
        return taken

    def close(self, *, terminate: bool | None = None, status: str = "quit",
              exit_code: int = 0, message: str = "ended") -> None:
        """Leave Claude running (or kill the session: `terminate`, default per the settings)."""
        from claude_orchestrator.drivers.lifecycle import Outcome

        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):  # a late reply is a nicety, never a failure
            self._late_replies()
        if terminate is not None and terminate != self.config.terminate_when_quit:
            from dataclasses import replace

            self.config = replace(self.config, terminate_when_quit=terminate)
            if self.run:
                self.run.config = self.config
        if self.run:
            try:
                self.run.finish(Outcome(status, exit_code, message))
            finally:
                self.run.log.close()
        else:
            self.agent.close(terminate=self.config.terminate_when_quit)
        if self.agent.kept and self._quiet:
            # A library user sees no notes: a Claude left running (~300 MB) is said anyway,
            # through logging (stderr unless they configure it otherwise).
            logging.getLogger("claude_orchestrator").warning("%s", self.agent.kept)

    def __enter__(self) -> Session:
        try:
            return self.start()
        except BaseException:
            self.close(status="failed", exit_code=1, message="could not start")
            raise

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            self.close()
            return
        from claude_orchestrator.drivers.lifecycle import outcome_of

        outcome = outcome_of(exc, self.run_id or "", resumable=False)
        self.close(status=outcome.status, exit_code=outcome.exit_code,
                   message=outcome.message.split("\n", 1)[0])

    def _pause_started(self, reason: str, until: Any, text: str) -> int:
        assert self.run is not None
        return self.run.pause_started(self._turn, reason, until, text)

    def _pause_ended(self, pause: int) -> None:
        assert self.run is not None
        self.run.pause_ended(pause)


def run_task(task: str, *, workdir: str | Path = ".", reporter: Reporter | None = None,
             **settings: Any) -> RunResult:
    """Let the supervisor work `task` through with Claude until it is complete (and `verify`
    passes, when given) or a budget runs out. Needs OPENROUTER_API_KEY in the environment (or
    `api_key_file`)."""
    from claude_orchestrator.drivers.autonomous import run_autonomous

    config = make_config(workdir, task=task, autonomous=True, **settings)
    if not config.api_key:
        raise ConfigError("OPENROUTER_API_KEY is not set (the supervisor's API key)")
    return run_autonomous(config, reporter or QuietReporter(), redactor_for(config))
