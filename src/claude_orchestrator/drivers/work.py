"""A batch's run and git: its worktree is made when the run starts, and its work is committed
on its branch when it ends (whatever the ending: complete, stopped, failed, interrupted), so
the branch holds what the run did and `review`/`merge` have something to show.

The person's checkout, its HEAD and its index are never touched: the worktree is a folder of
its own under the run log's `worktrees/`, on the branch `orchestrator/RUN_ID` made from the
commit recorded when the batch was queued.

With `batch --git-remote` a run works on a node that may have no copy of the repository: it
clones the remote into that same folder (the remote's `orchestrator/RUN_ID` when an earlier
attempt pushed it; the earlier attempt's clone when it is still here, brought up to date), and
at its end commits there and pushes the branch back. The clone is then removed (the branch has
the work; a resumed run clones again); a push that fails keeps it, and so does an agent left
running in it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from claude_orchestrator.errors import OrchestratorError
from claude_orchestrator.runlog import RunLog, RunRecord
from claude_orchestrator.runlog.format import first_line
from claude_orchestrator.runtime.git import (
    add_worktree,
    changes,
    commit_all,
    git,
    has_ref,
    head_commit,
    repository_of,
)
from claude_orchestrator.runtime.remote import Clone, clone_for_run, push_branch
from claude_orchestrator.runtime.state import private_dir


def note_in_place(log: RunLog, run_id: str, folder: Path) -> None:
    """A run working in place in a git repository: the commit it started from, so `review`
    can show what changed since."""
    found = repository_of(folder)
    if found is not None:
        log.set_git(run_id, repo=str(found.top), base_commit=head_commit(found.top))


def _quiet(_message: str) -> None:
    pass


def ensure_worktree(log: RunLog, run: RunRecord,
                    note: Callable[[str], None] = _quiet) -> RunRecord:
    """The run's own worktree (or clone), made now if it has none yet (a queued run
    starting); the run record with its folder there. `note` hears what the person should
    know (an earlier clone that pushed nothing)."""
    if not run.branch or not run.repo or not run.base_commit:
        return run
    if run.git_remote:
        return _ensure_clone(log, run, run.git_remote, note)
    if run.worktree:
        return run
    repo = Path(run.repo)
    root = _root(log, run)
    if not has_ref(repo, f"refs/heads/{run.branch}"):
        add_worktree(repo, run.branch, root, run.base_commit)
    elif not root.exists():  # the branch is there (made by a start that failed after it)
        git(repo, "worktree", "add", "--quiet", str(root), run.branch, check=True)
    log.set_git(run.id, repo=run.repo, base_commit=run.base_commit, worktree=True,
                workdir=str(root / _inside_repo(run)))
    return log.get_run(run.id)


def _ensure_clone(log: RunLog, run: RunRecord, url: str,
                  note: Callable[[str], None]) -> RunRecord:
    assert run.branch and run.base_commit
    root = _root(log, run)
    inside = _inside(Path(run.workdir), root) if run.worktree else _inside_repo(run)
    how = clone_for_run(url, root, run.branch, run.base_commit)
    if how is Clone.FRESH and run.worktree:
        note(f"run {run.id}'s earlier clone ({run.workdir} on {run.host}) pushed nothing to "
             f"{url}: this attempt starts again from {run.base_commit[:12]}")
    log.set_git(run.id, repo=run.repo, base_commit=run.base_commit, worktree=True,
                workdir=str(root / inside))
    return log.get_run(run.id)


def _root(log: RunLog, run: RunRecord) -> Path:
    """The run's own folder on this machine: its worktree, or its clone."""
    return private_dir(log.folder / "worktrees") / f"{Path(run.repo or '').name}-{run.id}"


def _inside_repo(run: RunRecord) -> Path:
    """Where in the repository the task's folder is (on a node without the repository, by
    the recorded paths)."""
    try:
        return Path(run.workdir).resolve().relative_to(Path(run.repo or "").resolve())
    except ValueError:
        return Path()


def _inside(workdir: Path, root: Path) -> Path:
    """Where in its earlier clone (`…/worktrees/<root's name>/…`, maybe another node's) the
    run worked."""
    parts = workdir.parts
    return Path(*parts[parts.index(root.name) + 1:]) if root.name in parts else Path()


def commit_work(log: RunLog, run_id: str, status: str, message: str, *,
                agent_left_running: bool = False) -> str | None:
    """Everything the run left in its worktree, committed on its branch as the person (nothing
    when nothing changed; Claude's own commits kept as they are), and what the branch changed
    against its base recorded; with a remote, the branch pushed there and the clone removed
    (kept while `agent_left_running` works in it). One line saying what happened, or None for
    a run without a worktree."""
    run = log.get_run(run_id)
    if not (run.branch and run.worktree and run.base_commit):
        return None
    root = _root(log, run)
    folder = Path(run.workdir)
    if run.git_remote:
        if not (root / ".git").exists():
            return None  # its clone was never made here (or was pushed and removed)
        folder = root  # (the task's own folder may be gone: Claude may have removed it)
    elif not folder.is_dir() and root.is_dir():
        folder = root
    try:
        made = commit_all(folder, first_line(run.task)[:72] or f"claude-orchestrator run {run_id}",
                          f"claude-orchestrator run {run_id}: {status}\n\n{message}".rstrip())
        found = changes(folder, run.base_commit)
    except OrchestratorError as e:
        return f"could not commit the run's work on {run.branch}: {e}"
    log.set_changes(run_id, found.files, found.stat)
    total = (f"{found.files} file(s) changed against {run.base_commit[:12]}, "
             f"+{found.insertions} -{found.deletions}")
    said = (f"nothing new to commit on {run.branch} ({total})" if made is None else
            f"work committed on {run.branch} ({made[:12]}): {total}")
    if not run.git_remote:
        return said
    try:
        push_branch(folder, run.git_remote, run.branch)
    except OrchestratorError as e:
        return (f"{said}; could not push it to {run.git_remote} ({e}): the work stays in "
                f"{root} on {run.host}")
    if agent_left_running:
        return f"{said}; pushed to {run.git_remote} (the clone stays: the agent works in it)"
    shutil.rmtree(root, ignore_errors=True)
    return f"{said}; pushed to {run.git_remote}"
