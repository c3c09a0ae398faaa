"""git, thinly: the repository a folder is in, a run's worktree and branch, its work committed,
what it changed, and merging it back. Every call is one `git -C FOLDER ...` with no secret in
its environment; nothing here ever touches the person's own checkout unless asked to merge
into it (and then only after checking that it is clean).
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from claude_orchestrator.errors import UsageError
from claude_orchestrator.process import child_environ

BRANCH_PREFIX = "orchestrator/"
# Who commits when the person has no git identity configured (git refuses to commit without).
FALLBACK_IDENTITY = ("claude-orchestrator", "claude-orchestrator@localhost")


class GitError(UsageError):
    """git could not do what was asked: one line with git's own reason (exit 2)."""


# git that talks to a remote (clone, fetch, push) may move a whole repository: minutes, not 300 s.
NETWORK_TIMEOUT = 3600.0


def git(cwd: Path, *args: str, env: Mapping[str, str] | None = None, check: bool = False,
        input: str | None = None, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
    """`git -C cwd args`, text in and out; with `check`, a failure is a GitError.

    No secret reaches it, whatever `env` held, and it never waits for a person: no password
    prompt (GIT_TERMINAL_PROMPT=0) and no terminal (its own session, so ssh cannot ask for a
    passphrase or a host key on /dev/tty either): a run has no one there to answer."""
    try:
        done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True,
                              input=input, stdin=None if input is not None else subprocess.DEVNULL,
                              check=False, timeout=timeout, start_new_session=True,
                              env=child_environ(env, GIT_TERMINAL_PROMPT="0"))
    except (OSError, subprocess.SubprocessError) as e:
        raise GitError(f"git {args[0]} failed: {e}") from None
    if check and done.returncode != 0:
        raise GitError(f"git {args[0]} failed in {cwd}: {reason_of(done)}")
    return done


def reason_of(done: subprocess.CompletedProcess[str]) -> str:
    """git's reason for a failure in one line: a push's refused ref (`! [rejected] … (stale
    info)`), else its last `fatal:`/`error:` line, else its last line that is no hint.

    >>> reason_of(subprocess.CompletedProcess([], 128, '', "fatal: no such remote\\n"
    ...     "fatal: Could not read from remote repository.\\n\\nPlease make sure you have "
    ...     "the correct access rights\\nand the repository exists.\\n"))
    'fatal: Could not read from remote repository.'
    """
    lines = [ln.strip() for ln in (done.stderr or done.stdout or "").splitlines() if ln.strip()]
    refused = [" ".join(ln.split()) for ln in lines if ln.startswith("! [")]  # a push's ref
    said = [ln for ln in lines if ln.startswith(("fatal:", "error:"))]
    plain = [ln for ln in lines if not ln.startswith("hint:")]
    return (refused or said or plain or [f"exit status {done.returncode}"])[-1]


@dataclass(frozen=True)
class Repository:
    top: Path  # the work tree's top folder
    prefix: str  # the folder's path inside it ("" at the top)


def repository_of(folder: Path, env: Mapping[str, str] | None = None) -> Repository | None:
    """The repository `folder` is in; None outside git (or without git)."""
    try:
        top = git(folder, "rev-parse", "--show-toplevel", env=env)
    except GitError:
        return None
    if top.returncode != 0 or not top.stdout.strip():
        return None
    prefix = git(folder, "rev-parse", "--show-prefix", env=env).stdout.strip()
    return Repository(Path(top.stdout.strip()), prefix)


def head_commit(top: Path, env: Mapping[str, str] | None = None) -> str | None:
    """HEAD's commit, None in a repository without one."""
    found = git(top, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", env=env)
    return found.stdout.strip() or None if found.returncode == 0 else None


def has_ref(top: Path, ref: str, env: Mapping[str, str] | None = None) -> bool:
    """Whether `ref` (`refs/heads/B`, `refs/remotes/origin/B`) names a commit at `top`."""
    return git(top, "rev-parse", "--verify", "--quiet", ref, env=env).returncode == 0


def is_ancestor(top: Path, older: str, newer: str,
                env: Mapping[str, str] | None = None) -> bool:
    """Whether `older` is in `newer`'s history (the same commit included)."""
    return git(top, "merge-base", "--is-ancestor", older, newer, env=env).returncode == 0


def uncommitted(top: Path, env: Mapping[str, str] | None = None) -> list[str]:
    """`git status --porcelain` lines: the changes and untracked files not committed."""
    return [ln for ln in git(top, "status", "--porcelain", env=env).stdout.splitlines() if ln]


def add_worktree(top: Path, branch: str, root: Path, base: str,
                 env: Mapping[str, str] | None = None) -> None:
    """A new worktree at `root` on the new branch `branch`, from commit `base`."""
    git(top, "worktree", "add", "--quiet", "-b", branch, str(root), base, env=env, check=True)


def identity_args(workdir: Path, env: Mapping[str, str] | None = None) -> list[str]:
    """`-c user.name=... -c user.email=...` when git has no identity for this repository
    (the person's own is used whenever they have one)."""
    args: list[str] = []
    for key, fallback in zip(("user.name", "user.email"), FALLBACK_IDENTITY, strict=True):
        if git(workdir, "config", key, env=env).returncode != 0:
            args += ["-c", f"{key}={fallback}"]
    return args


def commit_all(workdir: Path, subject: str, body: str,
               env: Mapping[str, str] | None = None) -> str | None:
    """Commit everything in the work tree (ignored files aside) on its branch, as the person
    (their git identity); the new commit, or None when nothing changed. Commits already made
    there (by Claude itself) are kept as they are."""
    git(workdir, "add", "--all", env=env, check=True)
    if git(workdir, "diff", "--cached", "--quiet", env=env).returncode == 0:
        return None
    git(workdir, *identity_args(workdir, env), "commit", "--quiet", "--no-verify",
        "-m", subject, "-m", body, env=env, check=True)
    return git(workdir, "rev-parse", "HEAD", env=env, check=True).stdout.strip()


@dataclass(frozen=True)
class Changes:
    """What a branch changed against its base: files, lines added and removed, git's
    `--stat` text."""

    files: int = 0
    insertions: int = 0
    deletions: int = 0
    stat: str = ""


def changes(workdir: Path, base: str, head: str = "HEAD",
            env: Mapping[str, str] | None = None) -> Changes:
    """`base..head` in numbers (`git diff --shortstat`) and as `--stat` text."""
    numbers = git(workdir, "diff", "--numstat", f"{base}..{head}", env=env, check=True)
    files = ins = dels = 0
    for line in numbers.stdout.splitlines():
        added, removed, _ = [*line.split("\t", 2), "", ""][:3]
        files += 1
        ins += int(added) if added.isdigit() else 0
        dels += int(removed) if removed.isdigit() else 0
    stat = git(workdir, "diff", "--stat", f"{base}..{head}", env=env, check=True).stdout
    return Changes(files, ins, dels, stat.rstrip())
