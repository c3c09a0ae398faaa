"""What this process does to itself before anything else, and what its children are given
(SECURITY.md, "Same-user code" and "Files and folders").

At start (`harden`): the process becomes undumpable, so other processes of the same user (the
code Claude runs) cannot read its environment (`/proc/<pid>/environ` keeps the key it was
started with) or its memory; and the umask becomes 077, so every file and folder the product
makes is the user's alone. The person's own umask is kept for what works on their behalf (the
tmux server and so Claude, the `--verify` command).

The secrets (the supervisor's key and every withheld variable) leave `os.environ` once read
(`take_secrets`), and every child is started with `child_environ()`: the environment minus
every name known to be secret, so no child (tmux, git, the verify command, a batch run, the
control client) ever holds one.
"""

from __future__ import annotations

import ctypes
import json
import os
import socket
import sys
from collections.abc import Iterable, Mapping, MutableMapping

SECRET_ENV = "OPENROUTER_API_KEY"
SECRETS_FD = "--secrets-fd"  # internal: how a batch hands its runs their secrets
PRIVATE_UMASK = 0o077
_PR_SET_DUMPABLE = 4

_person_umask: int | None = None  # the umask the process started with, once hardened
_secret_names: set[str] = {SECRET_ENV}


def make_undumpable() -> bool:
    """On Linux, forbid other processes of this user to read this process's environment and
    memory, or to attach to it. True when done; elsewhere a no-op (macOS denies task_for_pid to
    unprivileged peers by default).

    The C library is the running program's own (`CDLL(None)`): `ctypes.util.find_library`
    would start `ldconfig` with this process's whole environment, the key included.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def harden() -> None:
    """The first thing the command line does: undumpable, then umask 077."""
    global _person_umask
    make_undumpable()
    previous = os.umask(PRIVATE_UMASK)
    if _person_umask is None:
        _person_umask = previous


def person_umask() -> int:
    """The umask for what works on the person's behalf (the pane, the verify command): theirs
    as it was at start, not the product's 077."""
    if _person_umask is not None:
        return _person_umask
    current = os.umask(PRIVATE_UMASK)
    os.umask(current)
    return current


def secret_names(names: Iterable[str] = ()) -> frozenset[str]:
    """Add `names` to the variables no child may get; all of them."""
    _secret_names.update(n for n in names if n)
    return frozenset(_secret_names)


def take_secrets(environ: MutableMapping[str, str], names: Iterable[str]) -> dict[str, str]:
    """Remove these variables from `environ` (the process's own, so no child inherits them)
    and remember them as secret; their values (empty ones left out).

    >>> env = {'OPENROUTER_API_KEY': 'k', 'HOME': '/h'}
    >>> take_secrets(env, ['OPENROUTER_API_KEY']), env
    ({'OPENROUTER_API_KEY': 'k'}, {'HOME': '/h'})
    """
    names = list(names)
    secret_names(names)
    taken = {}
    for name in names:
        value = environ.pop(name, None)
        if value:
            taken[name] = value
    return taken


def child_environ(base: Mapping[str, str] | None = None,
                  **extra: str) -> dict[str, str]:
    """The environment a child starts with: `base` (this process's) without any secret.

    >>> secret_names(['MY_TOKEN']) >= {'MY_TOKEN', 'OPENROUTER_API_KEY'}
    True
    >>> child_environ({'MY_TOKEN': 't', 'OPENROUTER_API_KEY': 'k', 'A': '1'}, B='2')
    {'A': '1', 'B': '2'}
    """
    env = os.environ if base is None else base
    out = {k: v for k, v in env.items() if k not in _secret_names}
    out.update(extra)
    return out


def secrets_channel(values: Mapping[str, str]) -> socket.socket:
    """A socket that holds `values` for one child: give it `pass_fds=(sock.fileno(),)` and
    `--secrets-fd N`, then close it. A socket, not a pipe: `/proc/<pid>/fd/N` of a socket
    cannot be opened by another process, and the data is gone once the child read it."""
    ours, theirs = socket.socketpair()
    try:
        ours.sendall(json.dumps(dict(values)).encode())
        ours.shutdown(socket.SHUT_WR)
    finally:
        ours.close()
    return theirs


def receive_secrets(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """`args` without `--secrets-fd N`, and the secrets read from descriptor N (none without
    the option). They are remembered as secret names: no child of ours gets them."""
    if SECRETS_FD not in args:
        return args, {}
    at = args.index(SECRETS_FD)
    value = args[at + 1] if at + 1 < len(args) else ""
    rest = args[:at] + args[at + 2:]
    from claude_orchestrator.errors import UsageError

    try:
        fd = int(value)
        chunks = []
        try:
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
        finally:
            os.close(fd)
        values = json.loads(b"".join(chunks))
    except (ValueError, OSError):
        raise UsageError(f"{SECRETS_FD} {value}: no secrets to read there (it is how a batch "
                         "starts its runs, not an option to give by hand)") from None
    if not isinstance(values, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in values.items()):
        raise UsageError(f"{SECRETS_FD}: not a set of secrets")
    secret_names(values)
    return rest, values
