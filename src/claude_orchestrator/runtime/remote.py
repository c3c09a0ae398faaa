"""git with a remote, for runs on machines without the person's repository (`batch
--git-remote`): which URL a remote stands for, whether it has the batch's commit, a run's clone
of it, the run's branch pushed back, and fetched into the person's repository to review.

Every call goes through `git.git` (no secret, no prompt, no terminal) with the long network
timeout; a URL never starts with `-` (it would be read as an option).
"""

from __future__ import annotations

import enum
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from claude_orchestrator.runtime.git import (
    NETWORK_TIMEOUT,
    GitError,
    git,
    has_ref,
    is_ancestor,
    reason_of,
)


def remote_url(top: Path, remote: str, env: Mapping[str, str] | None = None) -> str:
    """The URL `remote` stands for in the repository at `top`: a remote's name (`origin`)
    gives its URL; a URL or a path is taken as it is (a relative path made absolute: a node
    clones it from elsewhere)."""
    if remote.startswith("-"):
        raise GitError(f"a git remote cannot start with '-': {remote[:40]!r}")
    named = git(top, "remote", "get-url", "--", remote, env=env)
    if named.returncode == 0 and named.stdout.strip():
        url = _absolute(named.stdout.strip(), top)
    elif "/" in remote or ":" in remote:
        url = _absolute(remote, Path.cwd())
    else:
        raise GitError(f"{remote!r} is no remote of {top} (git -C {top} remote -v lists them) "
                       "and no URL")
    if url.startswith("-"):
        raise GitError(f"the git remote {remote!r} has a URL starting with '-'")
    return url


def _absolute(url: str, base: Path) -> str:
    """A local path as an absolute one; a URL (`scheme://`, `host:path`) as it is.

    >>> _absolute('git@host:p.git', Path('/r')), _absolute('../up.git', Path('/r/x'))
    ('git@host:p.git', '/r/up.git')
    """
    if "://" in url or (":" in url.split("/", 1)[0]) or Path(url).is_absolute():
        return url
    return str((base / Path(url).expanduser()).resolve())


@dataclass(frozen=True)
class OnRemote:
    """Whether a commit is on a remote, as far as the local repository can tell."""

    found: bool
    unknown_tips: int  # branches and tags of the remote never fetched here (they may hold it)


def commit_on_remote(top: Path, url: str, commit: str,
                     env: Mapping[str, str] | None = None) -> OnRemote:
    """Whether `commit` is in the history of a branch or tag `url` has. Two git processes
    whatever the number of tips: the tips this repository has, then one walk from `commit`
    that stops at them. Raises GitError with git's reason when the remote cannot be read."""
    listed = git(top, "ls-remote", "--heads", "--tags", url, env=env, check=True,
                 timeout=NETWORK_TIMEOUT).stdout
    tips = sorted({ln.split("\t", 1)[0].strip() for ln in listed.splitlines() if ln.strip()})
    if not tips:
        return OnRemote(False, 0)
    checked = git(top, "cat-file", "--batch-check=%(objectname) %(objecttype)", env=env,
                  input="\n".join(tips) + "\n").stdout.split("\n")
    known = [ln.split()[0] for ln in checked if ln.endswith((" commit", " tag"))]
    if not known:
        return OnRemote(False, len(tips))
    walk = git(top, "rev-list", "--count", "--stdin", env=env, check=True,
               input=f"{commit}\n" + "".join(f"^{t}\n" for t in known))
    return OnRemote(walk.stdout.strip() == "0", len(tips) - len(known))


class Clone(enum.Enum):
    """How a run's clone came to be."""

    FRESH = "fresh"  # cloned, a new branch from the base commit
    PUSHED = "pushed"  # cloned, on the branch an earlier attempt pushed
    KEPT = "kept"  # the earlier attempt's clone, here still (brought up to the remote's branch)


def clone_for_run(url: str, root: Path, branch: str, base: str,
                  env: Mapping[str, str] | None = None) -> Clone:
    """The run's clone of `url` at `root`, on `branch`: the clone an earlier attempt left here
    (its unpushed work kept), else a new clone on the remote's `branch` when an earlier attempt
    pushed it, else a new branch from `base`. A folder there that is no clone is never touched;
    a clone that fails halfway is removed, so the next attempt starts clean."""
    if (root / ".git").exists():
        _catch_up(root, branch, env)
        return Clone.KEPT
    if root.exists() and any(root.iterdir()):
        raise GitError(f"{root} is there and no clone of {url}: move it away, then resume")
    try:
        git(root.parent, "clone", "--quiet", "--no-checkout", "--", url, str(root), env=env,
            check=True, timeout=NETWORK_TIMEOUT)
        if has_ref(root, f"refs/remotes/origin/{branch}", env):
            git(root, "checkout", "--quiet", "-b", branch, f"origin/{branch}", env=env,
                check=True)
            return Clone.PUSHED
        if git(root, "cat-file", "-e", f"{base}^{{commit}}", env=env).returncode != 0:
            raise GitError(f"commit {base[:12]} is not on {url} (push it there, then resume)")
        git(root, "checkout", "--quiet", "-b", branch, base, env=env, check=True)
        return Clone.FRESH
    except GitError:
        shutil.rmtree(root, ignore_errors=True)  # (empty or ours: checked above)
        raise


def _catch_up(root: Path, branch: str, env: Mapping[str, str] | None) -> None:
    """A kept clone brought up to the remote's `branch` when another attempt pushed more
    since; refused when both went on apart (neither may be lost)."""
    fetched = git(root, "fetch", "--quiet", "origin", f"refs/heads/{branch}", env=env,
                  timeout=NETWORK_TIMEOUT)
    if fetched.returncode != 0:
        return  # never pushed (or the remote is away): the clone is all there is
    if is_ancestor(root, "FETCH_HEAD", "HEAD", env):
        return
    if is_ancestor(root, "HEAD", "FETCH_HEAD", env):
        git(root, "merge", "--quiet", "--ff-only", "FETCH_HEAD", env=env, check=True)
        return
    raise GitError(f"the clone at {root} and {branch} on its remote went apart (both have "
                   f"commits the other lacks): merge them there by hand, push, then resume")


def push_branch(workdir: Path, url: str, branch: str,
                env: Mapping[str, str] | None = None) -> None:
    """The clone's HEAD to `url` as `branch` (a GitError with git's reason when refused)."""
    git(workdir, "push", "--quiet", "--", url, f"HEAD:refs/heads/{branch}", env=env,
        check=True, timeout=NETWORK_TIMEOUT)


class Fetched(enum.Enum):
    """What fetching a run's branch into the person's repository did."""

    UPDATED = "updated"  # the branch is now the remote's (made, or moved forward)
    LOCAL_AHEAD = "local ahead"  # the local branch has all of the remote's, and more: kept
    APART = "apart"  # both have commits the other lacks: the local one kept
    CHECKED_OUT = "checked out"  # newer there, but the branch is checked out here: not moved
    FAILED = "failed"  # the remote could not be read, or has no such branch


@dataclass(frozen=True)
class FetchResult:
    how: Fetched
    reason: str = ""  # git's, when FAILED
    tip: str = ""  # the remote's commit for the branch (empty when FAILED)


def fetch_branch(top: Path, url: str, branch: str,
                 env: Mapping[str, str] | None = None) -> FetchResult:
    """The remote's `branch` into the repository at `top`, as its branch of that name, never
    losing a local commit: made when missing, moved only forward, never while checked out."""
    done = git(top, "fetch", "--quiet", "--", url, f"refs/heads/{branch}", env=env,
               timeout=NETWORK_TIMEOUT)
    if done.returncode != 0:
        return FetchResult(Fetched.FAILED, reason_of(done))
    theirs = git(top, "rev-parse", "FETCH_HEAD", env=env, check=True).stdout.strip()
    ref = f"refs/heads/{branch}"
    ours = git(top, "rev-parse", "--verify", "--quiet", ref, env=env).stdout.strip()
    if ours and is_ancestor(top, theirs, ours, env):
        return FetchResult(Fetched.LOCAL_AHEAD if ours != theirs else Fetched.UPDATED, "",
                           theirs)
    if ours and not is_ancestor(top, ours, theirs, env):
        return FetchResult(Fetched.APART, "", theirs)
    listed = git(top, "worktree", "list", "--porcelain", env=env).stdout
    if ours and f"branch {ref}" in listed.splitlines():
        return FetchResult(Fetched.CHECKED_OUT, "", theirs)
    git(top, "update-ref", ref, theirs, *([ours] if ours else ["0" * 40]), env=env, check=True)
    return FetchResult(Fetched.UPDATED, "", theirs)


def delete_branch(top: Path, url: str, branch: str, tip: str,
                  env: Mapping[str, str] | None = None) -> str:
    """`branch` deleted on `url` only while it is still at `tip` (a newer push is kept): ''
    when done, else git's reason."""
    done = git(top, "push", "--quiet", f"--force-with-lease=refs/heads/{branch}:{tip}", "--",
               url, f":refs/heads/{branch}", env=env, timeout=NETWORK_TIMEOUT)
    if done.returncode == 0:
        return ""
    return reason_of(done)
