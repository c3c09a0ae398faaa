"""`batch`: many tasks, at most N at once, each its own orchestrator process in its own tmux
session on one private socket, all in one run log under one batch id.

Every task becomes a queued run before anything starts (its text, folder, branch and settings
recorded), so a batch stopped at any moment - Ctrl-C, SIGTERM, a crash of the batch itself -
is continued by `batch --resume BATCH_ID`: each run starts (or resumes) through
`claude-orchestrator resume RUN_ID`, the same path that continues a single interrupted run.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from claude_orchestrator.batch.executor import Executor, RunHandle
from claude_orchestrator.batch.tasks import BatchTask
from claude_orchestrator.config import BY_DEST, Config, resolve
from claude_orchestrator.errors import Terminated, UsageError
from claude_orchestrator.runlog import RunLog, RunRecord
from claude_orchestrator.runlog.format import clip, first_line
from claude_orchestrator.runlog.log import _pid_alive, new_run_id
from claude_orchestrator.runtime.git import (
    BRANCH_PREFIX,
    GitError,
    head_commit,
    repository_of,
    uncommitted,
)
from claude_orchestrator.runtime.remote import commit_on_remote, remote_url
from claude_orchestrator.trust import shown_url

STOP_GRACE = 120.0  # how long stopped runs get to record themselves before they are killed
UNFINISHED = ("queued", "interrupted")
# Which outcome decides the batch's exit status when not all completed: the worst first.
_WORST = ("failed", "refused", "stuck", "budget", "interrupted", "queued", "quit", "running")


class Notices(Protocol):
    """What a batch tells a person away from the terminal (notify.py): its runs' needs-you
    and pauses as they happen, one summary at its end."""

    batch_id: str

    def ended(self, run: RunRecord) -> None: ...

    def look(self, log: RunLog, run_ids: Sequence[str]) -> None: ...

    def finished(self, runs: Sequence[RunRecord], stopped: bool) -> None: ...

    def close(self) -> None: ...


def new_batch_id() -> str:
    return "batch-" + new_run_id()


def task_config(task: BatchTask, top: Mapping[str, object], flags: Mapping[str, object],
                environ: Mapping[str, str], workdir: Path | None,
                read_key: bool = True) -> Config:
    """The task's settings: its own table, then the command line, then the file's top level,
    then the environment and the defaults. A batch ends Claude with each run unless told
    otherwise (a night's batch must not leave a dozen idle Claudes behind)."""
    merged = {**top, **{k: v for k, v in flags.items() if v is not None}, **task.settings}
    if "terminate_when_quit" not in merged and not environ.get(
            BY_DEST["terminate_when_quit"].env, "").strip():
        merged["terminate_when_quit"] = True
    merged["autonomous"] = True
    folder = task.workdir or workdir
    try:
        return resolve(merged, environ, workdir=str(folder) if folder else None, task=task.task,
                       read_key=read_key)
    except UsageError as e:
        raise UsageError(f"task {task.number}: {e}") from None


def checked_remote(top: Path, remote: str, base: str) -> str:
    """The URL a batch's runs clone from and push to (`--git-remote`), checked before anything
    is queued: the remote answers, its URL holds no password or token (it is recorded and
    shown; a node's git credential helper or ssh key gives access), and it has the commit the
    runs start from (a node could not check it out otherwise)."""
    url = remote_url(top, remote)
    parts = urllib.parse.urlsplit(url) if "://" in url else None
    if parts is not None and (parts.password or (
            parts.username and parts.scheme in ("http", "https"))):
        raise UsageError(f"the git remote {shown_url(url)} has a user or token in its URL: it "
                         "would be recorded and shown; give the nodes a git credential helper "
                         "(or an ssh key) and a URL without it")
    try:
        on_remote = commit_on_remote(top, url, base)
    except GitError as e:
        raise UsageError(f"cannot read the git remote {url}: {e}") from None
    if on_remote.found:
        return url
    named = "/" not in remote and ":" not in remote  # a remote's name, else the URL itself
    push = f"git -C {top} push {remote if named else shlex.quote(url)} HEAD"
    if on_remote.unknown_tips:
        raise UsageError(f"commit {base[:12]} (HEAD of {top}) is not on {url} as far as this "
                         f"repository knows ({on_remote.unknown_tips} of its branches or tags "
                         f"were never fetched here): git -C {top} fetch {remote}, or push it "
                         f"first ({push})")
    raise UsageError(f"commit {base[:12]} (HEAD of {top}) is not on {url}: the runs clone from "
                     f"there; push it first ({push})")


def queue_batch(log: RunLog, batch_id: str, configs: Sequence[Config],
                note: Callable[[str], None], git_remote: str | None = None) -> list[RunRecord]:
    """Record every task as a queued run. A task whose folder is in a git repository will work
    in a worktree of its own, made when it starts, on the branch `orchestrator/RUN_ID` from the
    commit HEAD is at now (recorded: every task of the batch starts from the same commit);
    uncommitted changes in the person's checkout are not carried over, and that is said once
    per repository. With `git_remote` every task's folder must be in a repository with that
    remote (checked for all before any is queued): the runs clone it and push their branches
    there, so they can work on nodes without the repository."""
    repos = [repository_of(config.workdir) for config in configs]
    # HEAD read once per repository: the commit checked on the remote is the one recorded.
    bases = {repo.top: head_commit(repo.top) for repo in repos if repo is not None}
    remotes: dict[Path, str] = {}
    for number, (config, repo) in enumerate(zip(configs, repos, strict=True), 1):
        if git_remote is None:
            break  # (no remote: nothing to check)
        if repo is None:
            raise UsageError(f"task {number}: --git-remote needs its folder in a git "
                             f"repository ({config.workdir} is not)")
        base = bases[repo.top]
        if base and repo.top not in remotes:
            remotes[repo.top] = checked_remote(repo.top, git_remote, base)
    for top, url in remotes.items():
        note(f"the runs of {top} clone {url} and push their branches (orchestrator/RUN_ID) "
             "back there")
    shared: dict[Path, int] = {}
    told: set[Path] = set()
    runs = []
    for number, (config, repo) in enumerate(zip(configs, repos, strict=True), 1):
        run_id = new_run_id()
        base = bases[repo.top] if repo is not None else None
        if repo is not None and base is None:
            raise UsageError(f"{repo.top} is a git repository without a commit: a task's "
                             "worktree branches from HEAD (commit once, or give a folder "
                             "outside git)")
        if repo is None:
            if config.workdir in shared:
                note(f"tasks {shared[config.workdir]} and {number} both work in "
                     f"{config.workdir} (not a git repository): they may disturb each other")
            shared.setdefault(config.workdir, number)
        elif repo.top not in told:
            told.add(repo.top)
            dirty = uncommitted(repo.top)
            if dirty:
                note(f"{repo.top} has {len(dirty)} uncommitted change(s): they are not carried "
                     f"over, each run starts from {base[:12] if base else 'HEAD'} (your "
                     "checkout is never touched)")
        config = replace(config, session=f"co-{run_id}")
        run = log.start_run(mode="autonomous", task=config.task or "",
                            workdir=str(config.workdir), model=config.model,
                            session=config.session, socket=config.socket,
                            settings=config.public_settings(), run_id=run_id, queued=True)
        log.set_batch(run.id, batch_id, BRANCH_PREFIX + run_id if repo else None)
        if repo is not None:
            log.set_git(run.id, repo=str(repo.top), base_commit=base,
                        remote=remotes.get(repo.top))
        runs.append(log.get_run(run.id))
    return runs


@dataclass
class Batch:
    """Runs a batch's queued and interrupted runs through an executor, at most `parallel` at
    once, and stops them all cleanly when told to."""

    log: RunLog
    executor: Executor
    parallel: int
    note: Callable[[str], None]
    args: Sequence[str] = ()  # flags for every run (settings given to `batch --resume`)
    active: dict[str, RunHandle] = field(default_factory=dict)
    notices: Notices | None = None

    def run(self, run_ids: Sequence[str], numbers: Mapping[str, int]) -> None:
        """Run these (numbered as in the batch) to their end, or stop them all on Ctrl-C or
        SIGTERM (then the exception goes on)."""
        pending = deque(run_ids)
        total = len(numbers)
        try:
            while pending or self.active:
                while pending and len(self.active) < self.parallel:
                    self._start(pending.popleft(), numbers, total)
                for handle in self.executor.wait(list(self.active.values()), 5.0):
                    self.active.pop(handle.run_id, None)
                    self._ended(handle)
                if self.notices is not None:
                    with contextlib.suppress(Exception):  # never a reason to stop the batch
                        self.notices.look(self.log, list(self.active))
        except (KeyboardInterrupt, Terminated):
            self.stop_all()
            raise

    def _start(self, run_id: str, numbers: Mapping[str, int], total: int) -> None:
        run = self.log.get_run(run_id)
        self.active[run_id] = self.executor.start(run_id, self.args)
        verb = "resumed" if run.status == "interrupted" else "started"
        self.note(f"{verb} {run_id} ({numbers[run_id]}/{total}: {_first(run.task)}); watch "
                  f"Claude: tmux -L {run.socket} attach -t {run.session}")

    def _ended(self, handle: RunHandle) -> None:
        run = self.log.get_run(handle.run_id)
        if self.notices is not None:
            with contextlib.suppress(Exception):
                self.notices.look(self.log, [run.id])  # a pause it had, before its end
                self.notices.ended(run)
        code = handle.poll()
        output = getattr(handle, "output", None)
        see = f"; its output: {output}" if output else ""
        if run.status == "queued":
            self.note(f"{run.id} did not start (exit status {code}){see}")
            return
        where = f", branch {run.branch}" if run.branch else ""
        status = run.status if run.status != "running" else "interrupted"
        turns = f"{run.turns} turn" + ("" if run.turns == 1 else "s")
        self.note(f"{run.id} {status} after {turns}, ${run.total_cost_usd:.4f}"
                  f"{where}" + ("" if status == "complete" else
                               f": {_first(run.message or '')}{see}"))

    def stop_all(self) -> None:
        """Ask every running run to stop (each records itself, resumable); kill the ones that
        do not within STOP_GRACE."""
        if not self.active:
            return
        self.note(f"stopping {len(self.active)} run(s); each can be resumed")
        for handle in self.active.values():
            handle.stop()
        end = time.monotonic() + STOP_GRACE
        while self.active and time.monotonic() < end:
            for handle in self.executor.wait(list(self.active.values()), 1.0):
                self.active.pop(handle.run_id, None)
        for handle in self.active.values():
            handle.kill()
        self.active.clear()


def _first(text: str, width: int = 60) -> str:
    return clip(first_line(text), width)


def to_resume(log: RunLog, batch_id: str, note: Callable[[str], None]) -> list[RunRecord]:
    """The batch's unfinished runs (queued or interrupted), claimed by this process; a batch
    whose process is still alive is refused."""
    runs = log.batch_runs(batch_id)
    if not runs:
        raise UsageError(f"no batch {batch_id!r} in the run log (claude-orchestrator batches "
                         "lists them)")
    for run in runs:
        if run.status == "queued" and run.pid != os.getpid() and log.owner_alive(run):
            raise UsageError(f"batch {batch_id} is still running (pid {run.pid})")
    alive = [r for r in runs if r.status == "running"]
    if alive:
        note(f"{len(alive)} run(s) still running on their own: "
             f"{', '.join(r.id for r in alive)}")
    todo, taken = [], []
    for run in (r for r in runs if r.status in UNFINISHED):
        # A compare-and-set on the claim read above: of two batches resuming at once, one
        # gets each run; a claim by a batch process still alive here is left to it.
        if not _claimant_alive(log, run.claimed_by) and log.claim(run.id, run.claimed_by):
            todo.append(run)
        else:
            taken.append(run.id)
    if taken:
        note(f"{len(taken)} run(s) taken by another batch: {', '.join(taken)}")
    return todo


def _claimant_alive(log: RunLog, claimant: str | None) -> bool:
    """Whether the batch process that claimed a run (`host:pid:nonce`) still lives here (one
    on another machine cannot be asked: its claim stands only against a concurrent one)."""
    host, _, rest = (claimant or "").partition(":")
    pid = rest.partition(":")[0]
    mine = log.claimant.split(":")
    if host != mine[0] or not pid.isdigit() or pid == mine[1]:
        return False
    return _pid_alive(int(pid))


def exit_status(runs: Sequence[RunRecord]) -> int:
    """0 when every run completed; otherwise the exit status of the worst run (failed, then
    refused, stuck, budget, interrupted...)."""
    if all(r.status == "complete" for r in runs):
        return 0
    worst = min((r for r in runs if r.status != "complete"),
                key=lambda r: _WORST.index(r.status) if r.status in _WORST else 0)
    if worst.exit_code:
        return worst.exit_code
    return {"queued": 1, "running": 1, "interrupted": 143}.get(worst.status, 1)


def summary_rows(runs: Sequence[RunRecord]) -> list[dict[str, object]]:
    """What `--json` shows per run (the table shows the same facts)."""
    return [{"task": first_line(r.task), "run": r.id, "status": r.status, "turns": r.turns,
             "cost_usd": round(r.total_cost_usd, 6), "branch": r.branch,
             "files_changed": r.files_changed, "workdir": r.workdir,
             "exit_code": r.exit_code} for r in runs]


def print_summary(batch_id: str, runs: Sequence[RunRecord], *, json_output: bool) -> None:
    import json

    if json_output:
        print(json.dumps({"batch": batch_id, "exit_code": exit_status(runs),
                          "runs": summary_rows(runs)}, indent=2))
        return
    from rich.console import Console
    from rich.text import Text

    from claude_orchestrator.runlog.tables import RunFacts, batch_table

    console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 200,
                      highlight=False)
    console.print(Text(f"batch {batch_id}", style="bold"))
    facts = [RunFacts.of(r, None) for r in runs]
    console.print(batch_table(facts, {r.id: r.id for r in runs}, console.width))
    done = sum(r.status == "complete" for r in runs)
    if done < len(runs):
        left = sum(r.status in UNFINISHED for r in runs)
        more = (f"; continue the {left} unfinished: claude-orchestrator batch --resume "
                f"{batch_id}") if left else ""
        print(f"{done} of {len(runs)} complete{more}", file=sys.stderr)
