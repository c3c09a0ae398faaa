"""The morning after: `review RUN`, `merge RUN` and `clean` on the work runs left behind.

A batch's run works in a git worktree of its own, on the branch `orchestrator/RUN_ID` made
from the commit its batch started from, and its work is committed there when it ends. So:

    review RUN [--tool T]    the branch's diff against that commit (or `git difftool`)
    merge RUN [--squash]     the branch into the person's current branch: a merge commit that
                             keeps Claude's commits (or one squashed commit), refused on a dirty
                             checkout or a conflict, both sides left as they were
    clean RUN | --batch ID | --merged
                             remove the runs' worktrees and branches (a branch not merged is
                             named with the commit that brings it back)

A run queued with `batch --git-remote` pushed its branch to that remote (it may have worked on
another machine): `review`, `merge` and `clean` fetch it into the repository first, and `clean`
deletes it on the remote too.

A run that worked in place (a folder outside a batch) has no branch: `review` diffs the folder
against the commit it started from (your own changes since included, and said so), `merge`
and `clean` have nothing to do and say why.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import assert_never

from claude_orchestrator.errors import UsageError
from claude_orchestrator.process import child_environ
from claude_orchestrator.runlog import RunLog, RunRecord
from claude_orchestrator.runlog.format import first_line
from claude_orchestrator.runtime.git import (
    git,
    has_ref,
    head_commit,
    is_ancestor,
    repository_of,
    uncommitted,
)
from claude_orchestrator.runtime.remote import Fetched, FetchResult, delete_branch, fetch_branch


def _environ() -> Mapping[str, str]:
    """git's environment: the person's, without the supervisor's key."""
    return {k: v for k, v in os.environ.items() if k != "OPENROUTER_API_KEY"}


def _finished(run: RunRecord) -> None:
    if run.status == "running":
        raise UsageError(f"run {run.id} is still running; stop it first (Ctrl-C in its "
                         "terminal, or claude-orchestrator batch --resume later)")


def _repo(run: RunRecord) -> Path:
    if run.repo:
        return Path(run.repo)
    found = repository_of(Path(run.workdir), _environ())
    if found is None:
        raise UsageError(f"run {run.id} worked in {run.workdir}, outside git: nothing to "
                         f"review as a diff (claude-orchestrator show {run.id} lists the files "
                         "Claude wrote)")
    return found.top


def _has_branch(repo: Path, branch: str, env: Mapping[str, str]) -> bool:
    return has_ref(repo, f"refs/heads/{branch}", env)


def _fetch(run: RunRecord, repo: Path, env: Mapping[str, str], *,
           needed: bool = True) -> FetchResult | None:
    """A run that pushed its branch to a remote: that branch, fetched into `repo` without
    losing a local commit (what was done is said on stderr when it is not plain); None for a
    run without a remote."""
    if not (run.git_remote and run.branch):
        return None
    got = fetch_branch(repo, run.git_remote, run.branch, env)
    match got.how:
        case Fetched.UPDATED:
            pass
        case Fetched.LOCAL_AHEAD:
            _say(f"your {run.branch} has commits {run.git_remote} lacks: using yours")
        case Fetched.APART:
            _say(f"your {run.branch} and the one on {run.git_remote} went apart: using yours "
                 f"(the remote's is {got.tip[:12]}: git -C {repo} log {got.tip[:12]})")
        case Fetched.CHECKED_OUT:
            _say(f"{run.branch} is checked out here, so the newer one on {run.git_remote} "
                 f"({got.tip[:12]}) was not brought in: git pull it there")
        case Fetched.FAILED:
            if _has_branch(repo, run.branch, env):
                _say(f"could not fetch {run.branch} from {run.git_remote} ({got.reason}); "
                     "using the copy fetched before")
            elif needed:
                raise UsageError(f"run {run.id}'s branch {run.branch} could not be fetched from "
                                 f"{run.git_remote} ({got.reason}); claude-orchestrator show "
                                 f"{run.id} says whether it was pushed")
        case _ as unreachable:
            assert_never(unreachable)
    return got


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")


def review(run: RunRecord, tool: str | None = None) -> int:
    """Print the run's changes (or open them in `git difftool --tool`)."""
    env = _environ()
    repo = _repo(run)
    _fetch(run, repo, env)
    if run.branch:
        if not run.base_commit:
            raise UsageError(f"run {run.id} has no recorded base commit (an older release "
                             "made it): compare by hand with git log " + run.branch)
        span = [f"{run.base_commit}..{run.branch}"]
        where = repo
        said = f"# run {run.id}: {run.branch} against {run.base_commit[:12]}"
    else:
        if not run.base_commit:
            raise UsageError(f"run {run.id} worked in place in {run.workdir} and recorded no "
                             "starting commit: nothing to compare with")
        span = [run.base_commit]
        where = Path(run.workdir)
        said = (f"# run {run.id} worked in place: {where} against {run.base_commit[:12]} "
                "(your own changes since are included)")
    if tool:
        return subprocess.run(["git", "-C", str(where), "difftool", "--no-prompt",
                               f"--tool={tool}", *span], env=child_environ(env),
                              check=False).returncode
    diff = git(where, "diff", "--stat", "--patch", *span, env=env, check=True).stdout
    print(said)
    print(diff.rstrip() or "(no changes)")
    if not run.branch:  # in place: files git does not track yet are no part of a diff
        new = [ln[3:] for ln in uncommitted(where, env) if ln.startswith("??")]
        if new:
            print("# not in git yet (untracked):\n" + "\n".join(f"#   {n}" for n in new))
    return 0


def merge(run: RunRecord, *, squash: bool = False) -> int:
    """The run's branch into the person's current branch; refused (nothing touched) on a dirty
    checkout, a detached HEAD or a conflict."""
    _finished(run)
    env = _environ()
    if not run.branch:
        raise UsageError(f"run {run.id} worked in place in {run.workdir}: its changes are in "
                         "that folder already, there is no branch to merge")
    repo = _repo(run)
    _fetch(run, repo, env)
    if not _has_branch(repo, run.branch, env):
        raise UsageError(f"run {run.id}'s branch {run.branch} is gone (cleaned?)")
    current = git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", env=env).stdout.strip()
    if not current:
        raise UsageError(f"{repo} is on a detached HEAD: check out the branch to merge into")
    dirty = uncommitted(repo, env)
    if dirty:
        raise UsageError(f"{repo} has uncommitted changes ({len(dirty)} file(s)): commit or "
                         "stash them first; nothing was merged")
    before = head_commit(repo, env)
    subject = f"Merge run {run.id}: {first_line(run.task)[:60]}"
    if squash:
        done = git(repo, "merge", "--squash", run.branch, env=env)
        if done.returncode == 0 and uncommitted(repo, env):
            done = git(repo, "commit", "--quiet", "-m", f"{first_line(run.task)[:72]}",
                       "-m", f"Squashed from {run.branch} (run {run.id}).", env=env)
    else:
        done = git(repo, "merge", "--no-ff", "--no-edit", "-m", subject, run.branch, env=env)
    if done.returncode != 0:
        _undo(repo, before, env)
        reason = (done.stdout + done.stderr).strip().splitlines()
        conflict = [ln for ln in reason if "CONFLICT" in ln]
        raise UsageError(f"merging {run.branch} into {current} failed "
                         f"({(conflict or reason or ['no reason given'])[0].strip()}); "
                         f"nothing was changed: resolve it by hand with git merge {run.branch}")
    after = head_commit(repo, env)
    how = "squashed into one commit" if squash else "merged with a merge commit"
    if after == before:
        print(f"{run.branch} has nothing {current} lacks: nothing merged")
    else:
        print(f"{run.branch} {how} on {current} ({(after or '')[:12]})")
    return 0


def _undo(repo: Path, before: str | None, env: Mapping[str, str]) -> None:
    """Put the checkout back as it was before a failed merge (it was clean)."""
    git(repo, "merge", "--abort", env=env)
    if before:
        git(repo, "reset", "--quiet", "--hard", before, env=env)


def clean(runs: Sequence[RunRecord], log: RunLog, *, only_merged: bool) -> int:
    """Remove these runs' worktrees and branches (with `only_merged`, only those whose branch
    is merged into its repository's current branch). One line each."""
    env = _environ()
    removed = 0
    for run in runs:
        if not run.branch:
            continue
        if run.status == "running":
            print(f"{run.id}: still running, left alone")
            continue
        repo = _repo(run)
        got = _fetch(run, repo, env, needed=False)
        branch_exists = _has_branch(repo, run.branch, env)
        tip = git(repo, "rev-parse", run.branch, env=env).stdout.strip() if branch_exists else ""
        merged = branch_exists and is_ancestor(repo, run.branch, "HEAD", env)
        if only_merged and not merged:
            continue
        tree = Path(run.workdir) if run.worktree else None
        if run.git_remote and tree is not None and tree.exists():
            print(f"{run.id}: its clone {_tree_root(tree, env)} may hold work it could not "
                  f"push: left alone (push it to {run.git_remote}, or remove it by hand)")
            continue
        if got is not None and got.how is Fetched.FAILED and not branch_exists:
            print(f"{run.id}: {run.branch} is neither here nor on {run.git_remote} "
                  f"({got.reason}): nothing to clean (claude-orchestrator show {run.id} says "
                  "whether it was pushed)")
            continue
        if tree is not None and tree.exists():
            git(repo, "worktree", "remove", "--force", str(_tree_root(tree, env)), env=env,
                check=True)
        git(repo, "worktree", "prune", env=env)
        if branch_exists:
            git(repo, "branch", "-D", run.branch, env=env, check=True)
        if got is not None and run.git_remote:
            _clean_remote(run.id, run.git_remote, run.branch, repo, got, env)
        log.set_worktree_removed(run.id)
        removed += 1
        note = "" if merged or not tip else (
            f" (not merged: git branch {run.branch} {tip[:12]} brings it back)")
        print(f"{run.id}: removed its worktree and branch {run.branch}{note}")
    if not removed:
        print("nothing to clean" + (" (no merged run branch)" if only_merged else ""))
    return 0


def _clean_remote(run_id: str, url: str, branch: str, repo: Path, got: FetchResult,
                  env: Mapping[str, str]) -> None:
    """The run's branch deleted on its remote too, only while it is still what was fetched
    (a newer push is kept) and only when nothing there would be lost with it."""
    match got.how:
        case Fetched.FAILED:
            print(f"{run_id}: {url} could not be read ({got.reason}): {branch} is left there")
        case Fetched.APART | Fetched.CHECKED_OUT:
            print(f"{run_id}: {branch} on {url} has commits yours lacked: left there")
        case Fetched.UPDATED | Fetched.LOCAL_AHEAD:
            reason = delete_branch(repo, url, branch, got.tip, env)
            if reason:
                print(f"{run_id}: could not delete {branch} on {url} ({reason}); it is left "
                      "there")
        case _ as unreachable:
            assert_never(unreachable)


def _tree_root(folder: Path, env: Mapping[str, str]) -> Path:
    found = repository_of(folder, env)
    return found.top if found else folder

