"""`claude-orchestrator batch TASKS --parallel N` and `batch --resume BATCH_ID`."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from claude_orchestrator.batch.executor import Executor, LocalProcesses
from claude_orchestrator.batch.ray_jobs import (
    RayJobs,
    RaySettings,
    check_address,
    connect,
    job_environment,
    offered_slots,
)
from claude_orchestrator.batch.runner import (
    Batch,
    Notices,
    exit_status,
    new_batch_id,
    print_summary,
    queue_batch,
    task_config,
    to_resume,
)
from claude_orchestrator.batch.tasks import CONFIRM, file_commands, load_tasks
from claude_orchestrator.config import (
    BY_DEST,
    Config,
    add_setting_flags,
    find_executable,
    find_tmux,
    runlog_secrets,
)
from claude_orchestrator.errors import ConfigError, Terminated, UsageError
from claude_orchestrator.flags import Parser
from claude_orchestrator.process import SECRET_ENV, child_environ, take_secrets
from claude_orchestrator.runlog import RunLog, RunLogMissing, open_runlog
from claude_orchestrator.runtime.state import private_dir
from claude_orchestrator.screen import terminal_safe
from claude_orchestrator.secrets import Redactor, url_secrets
from claude_orchestrator.trust import is_loopback_url, url_password

DEFAULT_PARALLEL = 2


def batch_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="claude-orchestrator batch",
        description="Run many tasks, each its own autonomous run (its own process and tmux "
                    "session; its own git worktree and branch orchestrator/RUN_ID when its "
                    "folder is in a git repository), at most --parallel at once. Ctrl-C or "
                    "SIGTERM stops them all, each resumable with --resume.",
        epilog="TASKS is a TOML file of [[task]] tables (task or task_file, workdir, and any "
               "setting: verify, max_cost, max_time, agent...) or - for one task per line on "
               "stdin. The file must be yours and writable by no one else; it never says where "
               "the key goes (base_url, api_key_file: use the flags or the environment). Its "
               "commands (claude_cmd, verify) are named at start; when the file lies in a git "
               f"work tree (it may have come with a clone) they run, and a task_file outside "
               f"its folder is read, only with {CONFIRM}. Exit status 0 when all complete, "
               "else the worst run's.")
    p.add_argument("tasks", nargs="?", metavar="TASKS", help="TOML file of [[task]], or -")
    p.add_argument("--parallel", type=int, default=None, metavar="N",
                   help=f"how many run at once (default {DEFAULT_PARALLEL})")
    p.add_argument("--resume", metavar="BATCH_ID", help="continue a batch's unfinished runs")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--workdir", help="the folder of tasks that name none (default: here)")
    p.add_argument(CONFIRM, action="store_true",
                   help="you read TASKS: run its commands (claude_cmd, verify) and read its "
                        "task_file outside its folder, even though it lies in a git work tree")
    p.add_argument("--executor", metavar="local|ray",
                   help="where the runs execute: processes here (local, the default) or jobs "
                        "of a Ray cluster (ray; needs the ray extra) [env "
                        f"{EXECUTOR_ENV['executor']}, or executor in TASKS]")
    p.add_argument("--ray-address", metavar="URL",
                   help="the Ray cluster's Jobs API, e.g. http://HEAD:8265 [env "
                        f"{EXECUTOR_ENV['ray_address']}, or ray_address in TASKS]")
    p.add_argument("--ray-env", metavar="NAMES",
                   help="comma-separated variables of this environment every job gets (a "
                        f"secret is refused) [env {EXECUTOR_ENV['ray_env']}]")
    p.add_argument("--ray-command", metavar="CMD",
                   help="how a node runs this tool (default: claude-orchestrator; on a "
                        "cluster at a loopback address, this Python's -m claude_orchestrator) "
                        "[env "
                        f"{EXECUTOR_ENV['ray_command']}]")
    p.add_argument("--git-remote", metavar="REMOTE",
                   help="each run clones this remote of the tasks' repository (a name such as "
                        "origin, or a URL) and pushes its branch back there: for nodes "
                        "without the repository; HEAD must be pushed first [env "
                        f"{EXECUTOR_ENV['git_remote']}, or git_remote in TASKS]")
    add_setting_flags(p)
    return p


EXECUTOR_ENV = {"executor": "CLAUDE_ORCHESTRATOR_EXECUTOR",
                "ray_address": "CLAUDE_ORCHESTRATOR_RAY_ADDRESS",
                "ray_env": "CLAUDE_ORCHESTRATOR_RAY_ENV",
                "ray_command": "CLAUDE_ORCHESTRATOR_RAY_COMMAND",
                "git_remote": "CLAUDE_ORCHESTRATOR_GIT_REMOTE"}


def _pick(dest: str, ns: argparse.Namespace, top: Mapping[str, object],
          environ: Mapping[str, str]) -> str:
    """A batch's own setting: the flag, then the tasks file's top level, then the
    environment ('' when none says)."""
    given = getattr(ns, dest, None)
    value = given if given is not None else top.get(dest)
    if value is None:
        value = environ.get(EXECUTOR_ENV[dest], "")
    return str(value).strip()


def git_remote_setting(ns: argparse.Namespace, top: Mapping[str, object],
                       environ: Mapping[str, str]) -> str | None:
    """The remote the runs clone and push to (the flag, the tasks file, the environment)."""
    return _pick("git_remote", ns, top, environ) or None


def ray_settings(ns: argparse.Namespace, top: Mapping[str, object],
                 environ: Mapping[str, str]) -> RaySettings | None:
    """The Ray cluster the runs go to (the flag, then the tasks file's top level, then the
    environment), or None for local processes."""
    def pick(dest: str) -> str:
        return _pick(dest, ns, top, environ)

    kind = pick("executor").lower() or "local"
    if kind not in ("local", "ray"):
        raise UsageError(f"--executor must be local or ray, got {kind!r}")
    if kind == "local":
        given = [f"--{d.replace('_', '-')}" for d in ("ray_address", "ray_env", "ray_command")
                 if getattr(ns, d, None) is not None]
        if given:
            raise UsageError(f"{given[0]} goes with --executor ray")
        return None
    address = pick("ray_address")
    if not address:
        raise UsageError("--executor ray needs the cluster's address: --ray-address "
                         f"http://HEAD:8265 (or {EXECUTOR_ENV['ray_address']}, or ray_address "
                         "in the tasks file)")
    names = tuple(n.strip() for n in pick("ray_env").split(",") if n.strip())
    try:
        command = tuple(shlex.split(pick("ray_command"))) or default_command(address)
    except ValueError as e:
        raise UsageError(f"--ray-command is not a valid command line: {e}") from None
    return RaySettings(address.rstrip("/"), names, command)


def default_command(address: str) -> tuple[str, ...]:
    """How a node runs this tool: on a cluster of this machine (a loopback address) this very
    Python, so a tool installed in a virtualenv off PATH works; elsewhere the command on the
    node's PATH (the worker image's).

    >>> default_command('http://head.internal:8265')
    ('claude-orchestrator',)
    """
    if is_loopback_url(address):
        return (sys.executable, "-m", "claude_orchestrator")
    return ("claude-orchestrator",)


def _passed_settings(ns: argparse.Namespace) -> dict[str, object]:
    return {dest: getattr(ns, dest) for dest in BY_DEST if getattr(ns, dest, None) is not None}


# The batch's own, never its runs': it alone notifies (one summary, needs-you as they come).
BATCH_ONLY = ("notify",)
NOTIFY_ENV = BY_DEST["notify"].env
NoticesMaker = Callable[[Sequence[str], Callable[[str], str], Callable[[str], None]], Notices]


def _as_flags(settings: Mapping[str, object]) -> list[str]:
    """Settings as command-line flags for the runs (none is secret: the key is no setting)."""
    out: list[str] = []
    for dest, value in settings.items():
        flag = BY_DEST[dest].flag
        if isinstance(value, bool):
            out.append(flag if value else "--no-" + flag[2:])
        else:
            out += [flag, str(value)]
    return out


def _check_can_run(config: Config, environ: Mapping[str, str]) -> None:
    find_tmux(environ)
    find_executable(config.claude_argv, environ)
    if not config.api_key:
        raise ConfigError(f"{SECRET_ENV} is not set (every run of a batch needs the "
                          "supervisor's API key)")


def batch_main(args: list[str], environ: Mapping[str, str],
               from_dotenv: Collection[str] = (), notices: NoticesMaker | None = None) -> int:
    """`environ` is what the settings are read from (the key in it); this process's own
    environment no longer holds the key, and loses the withheld variables here, before the
    first child (`tmux -V`). `notices` makes what --notify sends (notify.py)."""
    ns = batch_parser().parse_args(args)
    if (ns.tasks is None) == (ns.resume is None):
        raise UsageError("give TASKS (a TOML file, or - for stdin) or --resume BATCH_ID")
    parallel = DEFAULT_PARALLEL if ns.parallel is None else ns.parallel
    if parallel < 1:
        raise UsageError(f"--parallel must be 1 or more, got {parallel}")
    if ns.workdir and not Path(ns.workdir).expanduser().is_dir():
        raise ConfigError(f"working directory does not exist: {ns.workdir}")
    settings = _passed_settings(ns)
    if "session" in settings or settings.get("autonomous") is False:
        raise UsageError("each run of a batch gets its own tmux session (co-RUN_ID) and is "
                         "autonomous: --session and --chat do not apply")
    if ns.resume and ns.git_remote is not None:
        raise UsageError("--git-remote does not apply to batch --resume: each run keeps the "
                         "remote it was queued with")
    if ns.resume and "socket" in settings:
        raise UsageError("--socket does not apply to batch --resume: each run goes on in the "
                         "tmux session it began in")
    commands: list[str] = []
    top: dict[str, object] = {}
    if not ns.resume:
        top, tasks = load_tasks(ns.tasks, confirmed=ns.trust_tasks_file)
    ray = ray_settings(ns, top, environ)
    if ns.resume:
        base = task_config_for_resume(settings, environ, read_key=ray is None)
        configs: list[Config] = []
    else:
        commands = file_commands(top, tasks)
        folder = Path(ns.workdir).expanduser() if ns.workdir else None
        configs = [task_config(t, top, settings, environ, folder, read_key=ray is None)
                   for t in tasks]
        base = configs[0]
    withheld = {n for c in configs or [base] for n in c.withhold_env}
    if ns.resume:
        withheld |= _recorded_withholding(base, ns.resume)
    take_secrets(os.environ, withheld)
    secrets = {n: environ[n] for n in sorted(withheld) if environ.get(n)}
    if base.api_key:
        secrets[SECRET_ENV] = base.api_key
    if url_password(base.base_url):
        secrets["OPENROUTER_BASE_URL"] = base.base_url  # stored without it in the run log
    # The batch alone notifies (its runs neither get the URLs nor the variable).
    urls = base.notify
    take_secrets(os.environ, [NOTIFY_ENV])
    redact = Redactor([*secrets.values(), url_password(base.base_url),
                       *runlog_secrets(base.runlog, environ),
                       *(s for u in urls for s in url_secrets(u))])
    for config in configs or [base]:
        if ray is None:  # the runs work here; with Ray, on the nodes (each checks for itself)
            _check_can_run(config, child_environ(environ))

    def note(message: str) -> None:
        sys.stderr.write(f"[batch {datetime.now():%H:%M:%S}] "
                         f"{terminal_safe(redact(message))}\n")

    if commands:
        note(f"commands from {ns.tasks}: {'; '.join(commands)}")
    if ray is not None:
        where = (f"from the file {base.api_key_file} on its node" if base.api_key_file else
                 f"from {SECRET_ENV} in the environment its Ray node was started with")
        note(f"runs go to the Ray cluster at {ray.address}; each reads the supervisor's key "
             f"{where} (it is never sent with a job)")
    told: Notices | None = None
    if urls:
        if notices is None:
            raise UsageError("--notify is not available here")
        told = notices(urls, redact, note)  # Apprise checked before anything starts
    with open_runlog(base.runlog, redact=redact, on_busy=note) as log:
        # Beside the log (a SQLite file's folder; the data folder for a database): not another
        # user's (a run log in a shared folder), checked before anything is queued or started.
        private_dir(log.folder / "worktrees")
        private_dir(log.folder / "batches")
        jobs = None if ray is None else _ray_jobs(ray, log, environ, base, note)
        if ns.resume:
            batch_id = ns.resume
            todo = [r.id for r in to_resume(log, batch_id, note)]
            args_for_runs = _as_flags({k: v for k, v in settings.items()
                                       if k not in BATCH_ONLY})
        else:
            batch_id = new_batch_id()
            queued = queue_batch(log, batch_id, configs, note,
                                 git_remote_setting(ns, top, environ))
            todo = [r.id for r in queued]
            args_for_runs = []
        numbers = {r.id: n for n, r in enumerate(log.batch_runs(batch_id), 1)}
        # The runs get an environment without secrets; the key (and the withheld values, for
        # redaction) through an inherited socket.
        outputs = log.folder / "batches" / batch_id
        executor: Executor = (LocalProcesses(log.location, outputs, child_environ(),
                                             secrets=secrets)
                              if jobs is None else RayJobs(log, *jobs, outputs, note))
        note(f"{batch_id}: {len(todo)} run(s) to go, {parallel} at once; watch them: "
             f"claude-orchestrator runs --watch --batch {batch_id}")
        batch = Batch(log, executor, parallel, note, args_for_runs, notices=told)
        if told is not None:
            told.batch_id = batch_id
        status: int | None = None
        try:
            batch.run(todo, numbers)
        except KeyboardInterrupt:
            status = 130
        except Terminated:
            status = 143
        log.mark_interrupted_if_dead()
        runs = log.batch_runs(batch_id)
        print_summary(batch_id, runs, json_output=ns.json)
        if told is not None:
            told.finished(runs, stopped=status is not None)
            told.close()
        if status is not None:
            note(f"stopped; continue with: claude-orchestrator batch --resume {batch_id}")
            return status
        return exit_status(runs)


def _ray_jobs(ray: RaySettings, log: RunLog, environ: Mapping[str, str], base: Config,
              note: Callable[[str], None]) -> tuple[Any, RaySettings, dict[str, str]]:
    """What RayJobs needs, checked before anything is queued: a run log the nodes can write,
    a job environment without a secret, a cluster that answers."""
    check_address(ray.address, log.location)
    env = job_environment(ray, log.location, environ, base.api_key)
    if env:
        shown = ", ".join(sorted(k for k in env if k not in ("RAY_JOB_STOP_WAIT_TIME_S",
                                                               "PYTHONUNBUFFERED")))
        note(f"each job's environment: {shown}")
    client = connect(ray.address, environ)
    if offered_slots(ray.address, environ) == 0:
        note(f"the Ray cluster at {ray.address} offers no agent_slot now: its jobs wait until "
             "a node started with ray start --resources='{\"agent_slot\": N}' joins")
    return client, ray, env


def _recorded_withholding(base: Config, batch_id: str) -> set[str]:
    """The variables the batch's runs withhold, as recorded (withholding only grows)."""
    try:
        with open_runlog(base.runlog, readonly=True) as log:
            runs = log.batch_runs(batch_id)
    except RunLogMissing:
        return set()
    return {name.strip() for r in runs for name in str(r.settings.get("withhold_env") or
                                                         "").split(",") if name.strip()}


def task_config_for_resume(settings: Mapping[str, object], environ: Mapping[str, str],
                           read_key: bool = True) -> Config:
    """What `batch --resume` needs to check before it starts anything (the runs take their
    own recorded settings, these flags over them)."""
    from claude_orchestrator.config import resolve

    return resolve({**settings, "autonomous": True}, environ, read_key=read_key)

