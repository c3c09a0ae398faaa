"""A task whose folder is in a git repository works in its own worktree, on its own branch
(`orchestrator/<run id>`), made from the repository's HEAD and left in place for review: two
tasks on one repository never touch each other's files, nor the person's checkout."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from claude_orchestrator.errors import UsageError

BRANCH_PREFIX = "orchestrator/"


@dataclass(frozen=True)
class Worktree:
    branch: str
    root: Path  # the worktree's top folder
    workdir: Path  # where the task works: the same place inside the repository as asked


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, check=False, timeout=120)


def repository_of(folder: Path) -> tuple[Path, str] | None:
    """The repository's top folder and the folder's path inside it; None when `folder` is not
    in a git repository (or git is missing)."""
    if shutil.which("git") is None:
        return None
    top = _git(folder, "rev-parse", "--show-toplevel")
    if top.returncode != 0 or not top.stdout.strip():
        return None
    prefix = _git(folder, "rev-parse", "--show-prefix").stdout.strip()
    return Path(top.stdout.strip()), prefix


def add_worktree(folder: Path, run_id: str, worktrees: Path) -> Worktree | None:
    """A new worktree for this run under `worktrees` when `folder` is in a git repository;
    None otherwise. A repository without a commit has no HEAD to branch from: an error."""
    found = repository_of(folder)
    if found is None:
        return None
    top, prefix = found
    if _git(top, "rev-parse", "--verify", "--quiet", "HEAD^{commit}").returncode != 0:
        raise UsageError(f"{top} is a git repository without a commit: a task's worktree "
                         "branches from HEAD (commit once, or give a folder outside git)")
    branch = BRANCH_PREFIX + run_id
    root = worktrees / f"{top.name}-{run_id}"
    root.parent.mkdir(parents=True, exist_ok=True)
    made = _git(top, "worktree", "add", "--quiet", "-b", branch, str(root), "HEAD")
    if made.returncode != 0:
        raise UsageError(f"git could not make a worktree for {top}: "
                         f"{(made.stderr.strip().splitlines() or ['no reason given'])[-1]}")
    return Worktree(branch, root, root / prefix if prefix else root)
