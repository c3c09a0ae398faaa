"""git, thinly: the repository a folder is in, a run's worktree and branch, its work committed,
what it changed, and merging it back. Every call is one `git -C FOLDER ...` with no secret in
its environment; nothing here ever touches the person's own checkout unless asked to merge
into it (and then only after checking that it is clean).
"""

from __future__ import annotations

import shutil
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


def git(cwd: Path, *args: str, env: Mapping[str, str] | None = None,
        check: bool = False) -> subprocess.CompletedProcess[str]:
    """`git -C cwd args`, text in and out; with `check`, a failure is a GitError."""
    try:
        done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, check=False, timeout=300,
                              # no secret, whatever `env` held; never a prompt for a
                              # password (no one is there to answer: it would hang)
                              env=child_environ(env, GIT_TERMINAL_PROMPT="0"))
    except (OSError, subprocess.SubprocessError) as e:
        raise GitError(f"git {args[0]} failed: {e}") from None
    if check and done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines()
                  or [f"exit status {done.returncode}"])[-1]
        raise GitError(f"git {args[0]} failed in {cwd}: {reason}")
    return done


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


# --------------------------------------------------------------- a remote, for runs on nodes
def remote_url(top: Path, remote: str, env: Mapping[str, str] | None = None) -> str:
    """The URL `remote` stands for in the repository at `top`: a remote's name (`origin`)
    gives its URL; a URL or a path is taken as it is (a relative path made absolute: a node
    clones it from elsewhere)."""
    named = git(top, "remote", "get-url", remote, env=env)
    if named.returncode == 0 and named.stdout.strip():
        return _absolute(named.stdout.strip(), top)
    if "/" in remote or ":" in remote:
        return _absolute(remote, Path.cwd())
    raise GitError(f"{remote!r} is no remote of {top} (git -C {top} remote -v lists them) and "
                   "no URL")


def _absolute(url: str, base: Path) -> str:
    """A local path as an absolute one; a URL (`scheme://`, `host:path`) as it is."""
    if "://" in url or (":" in url.split("/", 1)[0]) or Path(url).is_absolute():
        return url
    return str((base / Path(url).expanduser()).resolve())


def commit_on_remote(top: Path, url: str, commit: str,
                     env: Mapping[str, str] | None = None) -> bool:
    """Whether `commit` is in the history of a branch or tag `url` has, as far as the
    repository at `top` knows (a tip it has never fetched cannot vouch for it). Raises
    GitError with git's reason when the remote cannot be read."""
    tips = git(top, "ls-remote", "--heads", "--tags", url, env=env, check=True).stdout
    for line in tips.splitlines():
        tip = line.split("\t", 1)[0].strip()
        if tip and git(top, "merge-base", "--is-ancestor", commit, tip,
                       env=env).returncode == 0:
            return True
    return False


def clone_for_run(url: str, root: Path, branch: str, base: str,
                  env: Mapping[str, str] | None = None) -> None:
    """A clone of `url` at `root` on `branch`: the remote's `branch` when an earlier attempt
    pushed it (resumed on another node), else a new branch from `base`. A clone that fails
    halfway is removed, so the next attempt starts clean."""
    try:
        git(root.parent, "clone", "--quiet", "--no-checkout", url, str(root), env=env,
            check=True)
        pushed = git(root, "rev-parse", "--verify", "--quiet",
                     f"refs/remotes/origin/{branch}", env=env).returncode == 0
        if pushed:
            git(root, "checkout", "--quiet", "-b", branch, f"origin/{branch}", env=env,
                check=True)
        elif git(root, "cat-file", "-e", f"{base}^{{commit}}", env=env).returncode != 0:
            raise GitError(f"commit {base[:12]} is not on {url} (push it there, then resume)")
        else:
            git(root, "checkout", "--quiet", "-b", branch, base, env=env, check=True)
    except GitError:
        shutil.rmtree(root, ignore_errors=True)
        raise


def push_branch(workdir: Path, url: str, branch: str,
                env: Mapping[str, str] | None = None) -> None:
    """The clone's `branch` to `url` (a GitError with git's reason when refused)."""
    git(workdir, "push", "--quiet", url, f"HEAD:refs/heads/{branch}", env=env, check=True)


def fetch_branch(top: Path, url: str, branch: str,
                 env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`branch` of `url` into the repository at `top` as its own branch of that name (forced:
    the remote's is the run's)."""
    return git(top, "fetch", "--quiet", url, f"+refs/heads/{branch}:refs/heads/{branch}",
               env=env)
