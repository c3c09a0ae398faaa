"""The command line: flags, subcommands, signals, exit statuses, and the one-line errors.

    claude-orchestrator [OPTIONS] [WORKDIR]     run (autonomous by default, or chat)
    claude-orchestrator runs                    list recorded runs, newest first
    claude-orchestrator show RUN                print one run
    claude-orchestrator resume RUN              continue an interrupted autonomous run
    claude-orchestrator batch TASKS             many tasks, N at once (batch/command.py)
    claude-orchestrator stop [--all]            end the Claude left running in a session
    claude-orchestrator batches                 list batches
    claude-orchestrator review/merge RUN        a run's branch: its diff; into your branch
    claude-orchestrator clean RUN|--batch|--merged   remove runs' worktrees and branches
    claude-orchestrator serve                   a local web page of the runs (web/serve.py)
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING

from claude_orchestrator import __version__
from claude_orchestrator.config import (
    BY_DEST,
    DEFAULT_SESSION,
    DEFAULT_SOCKET,
    SETTINGS,
    Config,
    add_setting_flags,
    find_executable,
    find_tmux,
    resolve,
    runlog_secrets,
    runlog_target,
    settings_environ,
    withholding_grows,
)
from claude_orchestrator.errors import ConfigError, OrchestratorError, Terminated, UsageError
from claude_orchestrator.flags import Parser, nearest
from claude_orchestrator.process import SECRET_ENV, harden, receive_secrets, take_secrets
from claude_orchestrator.screen import terminal_safe
from claude_orchestrator.secrets import Redactor, url_secrets
from claude_orchestrator.trust import read_dotenv, shown_url, url_password

if TYPE_CHECKING:
    from claude_orchestrator.api import RunResult
    from claude_orchestrator.notify import BatchNotices
    from claude_orchestrator.progress import Reporter
    from claude_orchestrator.runlog import RunRecord

EXIT_OK, EXIT_USAGE = 0, 2
EXIT_SIGINT, EXIT_SIGTERM = 130, 143
SUBCOMMANDS = ("runs", "show", "resume", "batch", "stop", "batches", "review", "merge",
               "clean", "serve")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="claude-orchestrator",
        description="Run Claude Code in a private tmux server and drive it: a supervisor LLM "
                    "works through a task (default), or you chat with it (--chat). "
                    "Subcommands: runs [--watch], show RUN [--html], resume RUN, batch TASKS, "
                    "batches, review RUN, merge RUN, clean, stop [--all], serve (a web page "
                    "of the runs).",
        epilog="Exit status: 0 done, 1 runtime failure, 2 bad usage or configuration, "
               "3 budget exhausted, 4 supervisor API refused, 5 Claude cannot work, "
               "6 no progress, 130/143 interrupted. Settings come from flags, then the "
               "environment, then ./.env, then defaults.",
    )
    parser.add_argument("workdir", nargs="?", help="folder Claude works in (default: here)")
    parser.add_argument("--workdir", dest="workdir_flag", metavar="WORKDIR",
                        help="the same as the argument (for a folder named runs/show/resume)")
    parser.add_argument("--task", help="the task for the supervisor (autonomous mode)")
    parser.add_argument("--task-file", help="read the task from this file")
    parser.add_argument("--json", action="store_true", help="print the run summary as JSON")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_setting_flags(parser)
    return parser


def _subparser(name: str) -> argparse.ArgumentParser:
    p = Parser(prog=f"claude-orchestrator {name}")
    if name == "stop":
        p.description = ("End the Claude the tool left running in a tmux session (after /quit, "
                         "a finished run, a `with Session` block) and the session; its "
                         "conversation stays resumable. A session an orchestrator drives now "
                         "is left alone (stop that orchestrator with Ctrl-C).")
        p.add_argument("--socket", help=f"{BY_DEST['socket'].help} [env "
                                        f"{BY_DEST['socket'].env}, default {DEFAULT_SOCKET}]")
        p.add_argument("--session", help=f"tmux session name [env {BY_DEST['session'].env}, "
                                         f"default {DEFAULT_SESSION}]")
        p.add_argument("--all", action="store_true",
                       help="every session on every socket the tool has used")
        return p
    # resume
    p.description = "Continue an autonomous run that stopped short (or a batch's queued run)."
    p.add_argument("run", help="run id (or a unique prefix or suffix), as `runs` prints it")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--force", action="store_true",
                   help="resume even though the run looks alive (its recorded process id now "
                        "belongs to another program)")
    add_setting_flags(p)  # includes --runlog; the run's own settings are the defaults
    return p


_redact: Callable[[str], str] = str  # the run's Redactor, once the secrets are known


def error(message: str, status: int, stream: IO[str] | None = None) -> int:
    """One line (or a screen) on stderr, secrets out and control sequences visible."""
    shown = terminal_safe(_redact(message))
    (stream or sys.stderr).write(f"claude-orchestrator: error: {shown}\n")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    harden()  # first: no other process of this user may read our environment or memory
    args = list(sys.argv[1:] if argv is None else argv)
    _install_signals()
    try:
        args, environ, from_dotenv = _start(args)
        if args and args[0] == "serve":
            from claude_orchestrator.web.serve import main as serve_main

            return serve_main(args[1:], environ)
        if args and args[0] == "batch":
            from claude_orchestrator.batch.command import batch_main

            return batch_main(args[1:], environ, from_dotenv, notices=_batch_notices)
        if args and args[0] in SUBCOMMANDS:
            return _subcommand(args[0], args[1:], environ, from_dotenv)
        _check_first_word(args)
        ns = build_parser().parse_args(args)
        _check_run_words(ns)
        config = resolve(vars(ns), environ, workdir=ns.workdir_flag or ns.workdir,
                         task=ns.task, task_file=ns.task_file, json_output=ns.json,
                         from_dotenv=from_dotenv)
        if not config.autonomous and (ns.task is not None or ns.task_file is not None):
            raise UsageError("chat mode (--chat, or AUTONOMOUS_MODE=false) takes no --task or "
                             "--task-file: you type the messages; leave chat mode out to let "
                             "the supervisor work on the task")
        return _run(config, environ)
    except OrchestratorError as e:
        return error(str(e), e.exit_status)
    except UnicodeError:
        return error("the input is not UTF-8 text", EXIT_USAGE)
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        return EXIT_SIGINT
    except Terminated:
        sys.stderr.write("terminated\n")
        return EXIT_SIGTERM
    except Exception as e:
        return error(f"{type(e).__name__}: {e}", 1)


def _check_first_word(args: Sequence[str]) -> None:
    """A first word that is no folder here but close to a subcommand (`run`, `shwo`): say
    which subcommand, before argparse takes it for the folder."""
    word = args[0] if args else ""
    if word and not word.startswith("-") and "/" not in word and not Path(word).exists():
        meant = nearest(word, SUBCOMMANDS)
        if meant is not None:
            raise UsageError(f"there is no folder {word!r} here; did you mean the subcommand "
                             f"`claude-orchestrator {meant}`?")


def _check_run_words(ns: argparse.Namespace) -> None:
    """Mistakes caught before anything starts: an empty task."""
    if ns.task is not None and not ns.task.strip():
        raise UsageError("--task is empty: give the task's text (or --task-file FILE)")


def _start(args: list[str]) -> tuple[list[str], dict[str, str], list[str]]:
    """The arguments, the environment the settings are read from (the key in it), and the
    names `./.env` set. The key leaves this process's own environment here, before any child
    starts: a child (tmux, git, the verify command) inherits `os.environ`."""
    for n, arg in enumerate(args, 1):
        if any("\udc80" <= c <= "\udcff" for c in arg):
            raise UsageError(f"argument {n} is not UTF-8 text")
    sys.stdin.reconfigure(errors="strict")  # type: ignore[union-attr]
    args, inherited = receive_secrets(args)  # a batch's run: the secrets through a socket
    dotenv = read_dotenv(os.environ, Path.cwd() / ".env")
    if dotenv.ignored:
        sys.stderr.write(f"[orchestrator] not taken from ./.env (not claude-orchestrator "
                         f"settings): {', '.join(dotenv.ignored)}\n")
    if dotenv.taken:
        sys.stderr.write(f"[orchestrator] settings read from ./.env: "
                         f"{', '.join(dotenv.taken)}\n")
    environ = dict(os.environ)
    # The key, and the variables the environment withholds (those a flag names go in
    # `_prepare`): out before any child, whichever subcommand runs (`stop` runs `tmux -V`).
    named = environ.get(BY_DEST["withhold_env"].env, "").split(",")
    take_secrets(os.environ, [SECRET_ENV, *(n.strip() for n in named if n.strip())])
    environ.update(inherited)
    return args, environ, list(dotenv.taken)


def _install_signals() -> None:
    """Ctrl-C and SIGTERM unwind the run (it is recorded, TERMINATE_WHEN_QUIT honoured). The
    first one is the request: further ones are ignored while the run records its ending, so
    pressing Ctrl-C three times cannot leave it `running` (chat re-arms Ctrl-C when it only
    cancelled a wait: `rearm_interrupt`)."""

    def on_term(signum: int, frame: FrameType | None) -> None:
        _ignore_further_signals()
        raise Terminated

    signal.signal(signal.SIGINT, _on_interrupt)
    signal.signal(signal.SIGTERM, on_term)
    # A closed terminal (SIGHUP) also unwinds cleanly: the run is recorded as interrupted and
    # TERMINATE_WHEN_QUIT is honoured, instead of dying mid-write.
    signal.signal(signal.SIGHUP, on_term)


def _on_interrupt(signum: int, frame: FrameType | None) -> None:
    _ignore_further_signals()
    raise KeyboardInterrupt


def _ignore_further_signals() -> None:
    for kind in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(kind, signal.SIG_IGN)


def rearm_interrupt() -> None:
    """Ctrl-C (and SIGTERM) work again: the last one only cancelled a wait."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        _install_signals()


def _prepare(config: Config, environ: Mapping[str, str], *, need_key: bool) -> Redactor:
    """Everything a run needs, checked before anything starts. The withheld variables leave
    this process's environment first (every child inherits it: `tmux -V` is the first).
    Returns what redacts the secrets (the key, the withheld values, a password in the base URL)
    from all output."""
    global _redact
    take_secrets(os.environ, config.withhold_env)
    take_secrets(os.environ, [BY_DEST["notify"].env])  # no child (Claude's pane) gets them
    secrets = [config.api_key or "", url_password(config.base_url),
               *runlog_secrets(config.runlog, environ),
               *(environ.get(name, "") for name in config.withhold_env),
               *(s for url in config.notify for s in url_secrets(url))]
    redact = Redactor(secrets)
    _redact = redact
    find_tmux(os.environ)
    find_executable(config.claude_argv, os.environ)
    if need_key and not config.api_key:
        raise ConfigError(f"{SECRET_ENV} is not set (autonomous mode needs the supervisor's "
                          "API key; use --chat to chat yourself)")
    return redact


def _display(redact: Redactor) -> Callable[[str], str]:
    return lambda text: terminal_safe(redact(text))


def _run(config: Config, environ: Mapping[str, str]) -> int:
    from claude_orchestrator.progress import ConsoleReporter

    redact = _prepare(config, environ, need_key=config.autonomous)
    reporter = _notifying(ConsoleReporter(show=_display(redact), steps=not config.json_output),
                          config, redact)
    try:
        if config.autonomous:
            from claude_orchestrator.drivers.autonomous import run_autonomous

            return _summary(config, run_autonomous(config, reporter, redact), redact)
        return _run_chat(config, reporter, redact)
    finally:
        _close(reporter)


def _notifying(reporter: Reporter, config: Config, redact: Redactor) -> Reporter:
    """The reporter, sending notifications too when --notify is given (checked before
    anything starts: exit 2 without Apprise, or for a URL it does not know)."""
    if not config.notify:
        return reporter
    from claude_orchestrator.notify import reporter_for

    return reporter_for(reporter, config.notify, redact, config.runlog)


def _batch_notices(urls: Sequence[str], redact: Callable[[str], str],
                   note: Callable[[str], None]) -> BatchNotices:
    from claude_orchestrator.notify import batch_notices

    return batch_notices(urls, redact, note)


def _close(reporter: Reporter) -> None:
    """The notifications still going out leave now (bounded)."""
    close = getattr(reporter, "close", None)
    if close is not None:
        close()


def _summary(config: Config, result: RunResult, redact: Redactor) -> int:
    """The run's end on the terminal (or as JSON); its exit status. The last line says what
    happened, or the one command that continues the run when it stopped short."""
    import json

    from claude_orchestrator.agents import select_agent

    if config.json_output:
        print(json.dumps({"outcome": result.status, **result.as_dict()}, indent=2))
        return result.exit_code
    show = _display(redact)
    if result.summary:
        print(show(result.summary))
    out = sys.stderr if result.exit_code else sys.stdout
    who = select_agent(config.agent, config.claude_argv).title
    print(f"\nrun {result.run_id}: {result.turns} turns, {result.seconds:.0f}s, "
          f"{result.prompt_tokens + result.completion_tokens} supervisor tokens, "
          f"${result.cost_usd:.4f} (supervisor ${result.supervisor_cost_usd:.4f} + {who} "
          f"~${result.claude_cost_usd:.4f}, an estimate)", file=out)
    print(f"{result.status}: {show(result.message)}", file=out)
    if result.next_step:
        print(f"next: {show(result.next_step)}", file=out)
    return result.exit_code


def _run_chat(config: Config, rep: Reporter, redact: Redactor) -> int:
    """Chat: a thin layer over the public `Session` (api.py)."""
    from claude_orchestrator.agents import UnknownDialog
    from claude_orchestrator.api import Session
    from claude_orchestrator.drivers.chat import (
        ChatInterrupted,
        Waker,
        chat_loop,
        stdin_lines,
        with_inbox,
    )
    from claude_orchestrator.drivers.lifecycle import Outcome, outcome_of
    from claude_orchestrator.runtime.inbox import Inbox

    out = sys.stdout
    session = Session(config=config, reporter=rep, redact=redact)
    assert session.run is not None
    show = session.run.show
    outcome = Outcome("quit", EXIT_OK, "ended")
    waker = Waker()
    inbox = Inbox(session.agent.runtime.folder, on_arrival=waker.wake)
    try:
        try:
            inbox.open()  # `serve --allow-send` hands messages here (runtime/inbox.py)
        except OSError as e:
            rep.note(f"the web page cannot send to this chat: {e.strerror or e}")
        rep.note(f"watch live: {session.attach_command}")
        try:
            session.start()
        except UnknownDialog as dialog:
            out.write(show(f"{dialog}:\n{dialog.screen}\n") +
                      f"Answer it in tmux: {session.attach_command}\n")
            session.agent.wait_ready(allow_unknown=True)
        history = session.run.log.folder / "chat-history"
        status = chat_loop(session, with_inbox(stdin_lines(out, history, waker), inbox), out,
                           show=show, on_cancel=rearm_interrupt)
        outcome = Outcome("quit", status, "quit")
    except ChatInterrupted:
        outcome = outcome_of(KeyboardInterrupt(), session.run.id, resumable=False)
        sys.stderr.write("\ninterrupted\n")
    except BaseException as e:
        if not isinstance(e, (Exception, KeyboardInterrupt, Terminated)):
            raise
        outcome = outcome_of(e, session.run.id, resumable=False)
        if isinstance(e, KeyboardInterrupt):
            sys.stderr.write("\ninterrupted\n")
        elif isinstance(e, Terminated):
            sys.stderr.write("terminated\n")
        else:
            error(outcome.message, outcome.exit_code)
    finally:
        inbox.close()
        session.close(status=outcome.status, exit_code=outcome.exit_code,
                      message=outcome.message.split("\n", 1)[0])
    return outcome.exit_code


def _stop(ns: argparse.Namespace) -> int:
    """`stop`: one line per session ended (or why one was left), exit 0 when nothing failed."""
    from claude_orchestrator.runtime.stop import stop_all, stop_session

    if ns.all and (ns.socket or ns.session):
        raise UsageError("stop --all ends every session: --socket and --session do not apply")
    config = resolve({"socket": ns.socket, "session": ns.session}, os.environ)
    tmux = find_tmux(os.environ)
    if ns.all:
        ended, busy = stop_all(tmux, os.environ, config.socket)
    else:
        ended = [(config.socket, config.session)] if stop_session(
            tmux, config.socket, config.session, os.environ) else []
        busy = []
    for socket, session in ended:
        print(f"stopped tmux session {session} (socket {socket}) and the agent in it")
    for line in busy:
        sys.stderr.write(f"left running: {terminal_safe(line)}\n")
    if not ended and not busy:
        where = "any socket the tool used" if ns.all else (
            f"session {config.session} on socket {config.socket}")
        print(f"nothing to stop: no tmux session at {where}")
    return 1 if busy else EXIT_OK


def _subcommand(name: str, args: list[str], environ: Mapping[str, str],
                from_dotenv: Sequence[str] = ()) -> int:
    from claude_orchestrator import records
    from claude_orchestrator.runlog import RunLogMissing, RunNotFound, open_runlog

    if name in records.COMMANDS:
        return records.main(name, args, environ)
    ns = _subparser(name).parse_args(args)
    if name == "stop":
        return _stop(ns)
    source = "--runlog" if ns.runlog else "CLAUDE_ORCHESTRATOR_RUNLOG"
    target = runlog_target(source, ns.runlog or environ.get("CLAUDE_ORCHESTRATOR_RUNLOG"))
    try:
        log = open_runlog(target)
    except RunLogMissing:
        return error(f"no run matches {ns.run!r}: nothing is recorded yet", EXIT_USAGE)
    with log:
        try:
            run = log.get_run(ns.run)
        except RunNotFound as e:
            return error(str(e), EXIT_USAGE)
        if run.status == "running" and not ns.force:
            return error(f"run {run.id} is still running (pid {run.pid}); if that process is "
                         f"not claude-orchestrator any more: resume {run.id} --force",
                         EXIT_USAGE)
        _refuse_for_resume(ns, run)
        # Every setting the run began with is the default; flags still override them.
        ns.withhold_env = withholding_grows(run.settings, ns.withhold_env)
        recorded = settings_environ(run.settings)
        _note_ignored_environment(ns, recorded)
        config = resolve(vars(ns), {**environ, **recorded}, workdir=run.workdir,
                         json_output=ns.json,
                         from_dotenv=[n for n in from_dotenv if n not in recorded])
    return _resume(run.id, config, environ, force=ns.force)


# Flags that make no sense for `resume`: the run is autonomous, and its Claude lives in the
# tmux session it began in.
_NOT_FOR_RESUME = {"autonomous": "--chat/--autonomous", "session": "--session",
                   "socket": "--socket"}


def _refuse_for_resume(ns: argparse.Namespace, run: RunRecord) -> None:
    """Refuse, never ignore, a flag `resume` cannot honour."""
    for dest, flag in _NOT_FOR_RESUME.items():
        if getattr(ns, dest, None) is None:
            continue
        if dest == "autonomous":
            raise UsageError(f"{flag} does not apply to resume: run {run.id} is an autonomous "
                             "run (to chat, run: claude-orchestrator --chat FOLDER)")
        raise UsageError(f"{flag} does not apply to resume: run {run.id}'s Claude lives in "
                         f"tmux session {run.session} on socket {run.socket}")


def _note_ignored_environment(ns: argparse.Namespace, recorded: Mapping[str, str]) -> None:
    """One line naming the settings in the environment that differ from the run's own: the
    run keeps its own (a flag changes one), and the person should know which was used."""
    differ = []
    for setting in SETTINGS:
        mine = os.environ.get(setting.env, "").strip()
        theirs = recorded.get(setting.env)
        if (mine and theirs is not None and mine != theirs
                and getattr(ns, setting.dest, None) is None):
            shown = f" ({_redact(shown_url(mine))}, the run's: {_redact(theirs)})" if (
                setting.dest in ("base_url", "model")) else ""  # no password in a URL shown
            differ.append(f"{setting.env}{shown}")
    if differ:
        sys.stderr.write("[orchestrator] not used, the run keeps its own settings: "
                         f"{terminal_safe('; '.join(differ))}; a flag changes one "
                         "(e.g. --base-url)\n")


def _resume(run_id: str, config: Config, environ: Mapping[str, str], *,
            force: bool = False) -> int:
    from claude_orchestrator.drivers.autonomous import resume_autonomous
    from claude_orchestrator.progress import ConsoleReporter

    redact = _prepare(config, environ, need_key=True)
    reporter = _notifying(ConsoleReporter(show=_display(redact), steps=not config.json_output),
                          config, redact)
    try:
        result = resume_autonomous(run_id, config, reporter, redact, force=force)
    finally:
        _close(reporter)
    return _summary(config, result, redact)
