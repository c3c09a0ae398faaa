"""Where runtime state lives, and how its files are made, so that another local user can neither
read it nor plant anything in it (SECURITY.md).

All of a session's runtime state (hook events, the wake FIFO, Claude's settings file, the pane's
environment and exit status, the paste buffer) is in one folder under a private root:
`$XDG_RUNTIME_DIR/claude-orchestrator` when that is set and sound, else the user's cache folder
(`~/.cache/claude-orchestrator/run`, `~/Library/Caches/claude-orchestrator/run` on macOS),
never the shared temp folder. A root or folder that exists is trusted only when it is a real
directory (not a link), owned by this user, and closed to everyone else (mode 0700); otherwise
the run stops with one line saying which and how to fix it. The folders above it are checked
too (`check_parents`): another user who may write one of them could swap ours for theirs after
the check. Every folder the product makes is 0700, whatever the umask. Files are created with
O_EXCL and opened with O_NOFOLLOW, so a link planted in their place is never followed.

The one-orchestrator lock is keyed to the tmux socket's real path (it sits beside the socket,
in tmux's own private folder), so it holds whatever runtime folder the environment names.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path

from claude_orchestrator.errors import UsageError


class UnsafeState(UsageError):
    """A runtime folder or file that another user could read or plant things in (exit 2)."""


def state_root(environ: Mapping[str, str]) -> Path:
    """The private root for runtime state (created when missing)."""
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime):
        try:
            _check(Path(runtime), strict_mode=True)
        except UnsafeState:
            pass  # not ours, or open to others: not trusted, use the cache folder instead
        else:
            return private_dir(Path(runtime) / "claude-orchestrator")
    cache = environ.get("XDG_CACHE_HOME", "")
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    elif cache and os.path.isabs(cache):
        base = Path(cache)
    else:
        base = Path(environ.get("HOME") or Path.home()) / ".cache"
    return private_dir(base / "claude-orchestrator" / "run")


def session_dir(root: Path, socket: str, session: str) -> Path:
    """The folder of one tmux session's state: stable, so a Claude that outlives the
    orchestrator keeps reporting where the next one (`resume`) looks."""
    return private_dir(root / f"{socket}.{session}")


def private_dir(path: Path) -> Path:
    """`path` as a private directory: made 0700 (missing parents too) or checked, and the
    folders above it checked (`check_parents`)."""
    make_dirs(path)
    _check(path, strict_mode=True)
    check_parents(path)
    return path


def make_dirs(path: Path) -> None:
    """Make `path` and its missing parents, each 0700 whatever the umask (a folder the product
    makes is the user's alone: under umask 000 they were 0777)."""
    missing = []
    for folder in (path, *path.parents):
        if os.path.lexists(folder):
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
            os.chmod(folder, 0o700)  # mkdir's mode passes through the umask
        except FileExistsError:
            pass
        except OSError as e:
            raise UnsafeState(f"cannot make {folder}: {e.strerror} (is HOME writable? "
                              "XDG_RUNTIME_DIR, XDG_CACHE_HOME or --runlog can name another "
                              "place)") from None


def check_parents(path: Path) -> None:
    """Every folder above `path` (its real path, and any link on the way) must be the user's or
    root's, and writable by no one else unless it is sticky (like /tmp) and what it holds on
    the way is the user's or root's: else another user could rename `path` away and put their
    own in its place after it was checked. UnsafeState (exit 2) names the folder and the fix."""
    uid = os.getuid()
    trusted = (uid, 0)
    lexical = Path(os.path.abspath(path))
    for folder in lexical.parents:
        with contextlib.suppress(OSError):
            info = folder.lstat()
            if stat.S_ISLNK(info.st_mode) and info.st_uid not in trusted:
                raise UnsafeState(f"refusing {path}: {folder} is a link of uid {info.st_uid}")
    child = Path(os.path.realpath(path))
    try:
        child_owner = child.lstat().st_uid
    except OSError:
        child_owner = uid
    for folder in child.parents:
        try:
            info = folder.stat()
        except OSError as e:
            raise UnsafeState(f"cannot use {path}: {folder}: {e.strerror}") from None
        mode = stat.S_IMODE(info.st_mode)
        if info.st_uid not in trusted:
            raise UnsafeState(f"refusing {path}: {folder} above it belongs to uid "
                              f"{info.st_uid}")
        if mode & 0o022 and not (mode & stat.S_ISVTX and child_owner in trusted):
            raise UnsafeState(f"refusing {path}: others may write {folder} above it (mode "
                              f"{mode:o}); fix it with: chmod go-w {folder}")
        child_owner = info.st_uid


def _check(path: Path, *, strict_mode: bool) -> None:
    try:
        info = path.lstat()
    except OSError as e:
        raise UnsafeState(f"cannot use {path}: {e.strerror}") from None
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise UnsafeState(f"refusing {path}: it is not a directory of its own (a link?)")
    if info.st_uid != os.getuid():
        raise UnsafeState(f"refusing {path}: it belongs to uid {info.st_uid}, not to you")
    if strict_mode and stat.S_IMODE(info.st_mode) & 0o077:
        raise UnsafeState(f"refusing {path}: others may use it (mode "
                          f"{stat.S_IMODE(info.st_mode):o}); fix it with: chmod 700 {path}")


def remove_dir(folder: Path, *, keep: tuple[str, ...] = ()) -> None:
    """Remove a state folder's files (not those named in `keep`), then the folder if empty."""
    with contextlib.suppress(OSError):
        for path in folder.iterdir():
            if path.name not in keep:
                with contextlib.suppress(OSError):
                    path.unlink()
        folder.rmdir()


def write_private(path: Path, data: bytes) -> None:
    """Write a file only this user can read, replacing any old one without following a link
    planted in its place (the name is unlinked, then created with O_EXCL)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def open_private(path: Path, flags: int) -> int:
    """Open (creating 0600 when missing) without following a link; the fd."""
    return os.open(path, flags | os.O_NOFOLLOW, 0o600)


def tmux_socket_path(socket: str, environ: Mapping[str, str]) -> Path:
    """Where tmux puts the socket named `socket` (`tmux -L`): `$TMUX_TMPDIR` (else /tmp), then
    `tmux-<uid>/<socket>`, with links resolved."""
    base = environ.get("TMUX_TMPDIR") or "/tmp"
    return Path(os.path.realpath(base)) / f"tmux-{os.getuid()}" / socket


def lock_path(socket: str, session: str, environ: Mapping[str, str]) -> Path:
    """The lock file for one tmux session, beside its socket in tmux's private folder (made
    0700 when tmux has not made it yet; tmux itself accepts only such a folder)."""
    sock = tmux_socket_path(socket, environ)
    folder = private_dir(sock.parent)
    digest = hashlib.sha256(f"{sock}\0{session}".encode()).hexdigest()[:16]
    return folder / f".claude-orchestrator-{socket}-{digest}.lock"
