"""A chat session's inbox: how another process of the same user (the web page's `serve
--allow-send`) hands the chat a message, which the chat then delivers itself, between turns,
on the same path as a message typed at its prompt. Nothing but the chat ever types into tmux.

The inbox is a Unix socket, `inbox.sock`, in the session's private state folder (0700, the
user's: runtime/state.py), mode 0600; on Linux the peer's uid is checked too (SO_PEERCRED).
One connection carries one message: a JSON line `{"text": ...}` of at most 64 KB, answered by
`{"ok": true}` once the chat has queued it, or `{"ok": false, "why": ...}`. At most `QUEUE`
messages wait; a slow or silent client is cut after `CLIENT_TIMEOUT`.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import socket
import struct
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

NAME = "inbox.sock"
MAX_MESSAGE = 64 * 1024
QUEUE = 16
CLIENT_TIMEOUT = 3.0


class Inbox:
    """The chat's end: messages arrive on a thread and wait in `take()`; `on_arrival` (the
    chat's prompt, to wake up) hears of each."""

    def __init__(self, folder: Path, on_arrival: Callable[[], None] | None = None) -> None:
        self.path = folder / NAME
        self.on_arrival = on_arrival
        self._queue: queue.Queue[str] = queue.Queue(maxsize=QUEUE)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def open(self) -> Inbox:
        """Listen (OSError when it cannot: the chat goes on without an inbox)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a dead chat's socket (the folder is ours alone)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            with _reachable(self.path) as name:
                sock.bind(name)
        except OSError:
            sock.close()
            raise
        finally:
            os.umask(old)
        sock.listen(4)
        sock.settimeout(1.0)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="chat-inbox", daemon=True)
        self._thread.start()
        return self

    def take(self) -> list[str]:
        """The messages waiting now, oldest first."""
        out = []
        with contextlib.suppress(queue.Empty):
            while True:
                out.append(self._queue.get_nowait())
        return out

    def close(self) -> None:
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout=3)
        if self._sock is not None:
            self._sock.close()
        with contextlib.suppress(OSError):
            self.path.unlink()

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                self._one(conn)

    def _one(self, conn: socket.socket) -> None:
        conn.settimeout(CLIENT_TIMEOUT)
        try:
            if not _same_user(conn):
                _answer(conn, False, "not the chat's user")
                return
            text = _read_message(conn)
            if text is None:
                _answer(conn, False, "a message is one JSON line {\"text\": ...} of at most "
                                     f"{MAX_MESSAGE} bytes")
                return
            try:
                self._queue.put_nowait(text)
            except queue.Full:
                _answer(conn, False, f"{QUEUE} messages wait already; try again later")
                return
            if self.on_arrival is not None:  # woken before the sender hears it arrived
                with contextlib.suppress(Exception):
                    self.on_arrival()
            _answer(conn, True, "")
        except OSError:
            return


@contextlib.contextmanager
def _reachable(path: Path) -> Iterator[str]:
    """A name for the socket short enough for AF_UNIX (108 bytes on Linux): the path itself,
    or, for a long one, the path through an open descriptor of its folder (/proc/self/fd)."""
    if len(os.fsencode(path)) < 100 or not os.path.isdir("/proc/self/fd"):
        yield str(path)
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_PATH", 0))
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def _read_message(conn: socket.socket) -> str | None:
    data = b""
    while b"\n" not in data and len(data) <= MAX_MESSAGE:
        chunk = conn.recv(8192)
        if not chunk:
            break
        data += chunk
    line = data.split(b"\n", 1)[0]
    if len(line) > MAX_MESSAGE:
        return None
    try:
        value = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    text = value.get("text") if isinstance(value, dict) else None
    return text if isinstance(text, str) and text.strip() else None


def _answer(conn: socket.socket, ok: bool, why: str) -> None:
    conn.sendall(json.dumps({"ok": ok, **({"why": why} if why else {})}).encode() + b"\n")


def _same_user(conn: socket.socket) -> bool:
    """Linux: the peer's uid (SO_PEERCRED) is ours. Elsewhere the private folder decides."""
    if not sys.platform.startswith("linux"):
        return True
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return bool(uid == os.getuid())


def send(folder: Path, text: str, timeout: float = CLIENT_TIMEOUT) -> str:
    """Hand `text` to the chat whose state folder is `folder`: '' when queued, else why not."""
    path = folder / NAME
    if not path.exists():
        return "this chat takes no messages from the page (it has no inbox: it ended, or an " \
               "older release runs it)"
    data = json.dumps({"text": text}).encode() + b"\n"
    if len(data) > MAX_MESSAGE:
        return f"the message is too long (at most {MAX_MESSAGE} bytes)"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            with _reachable(path) as name:
                sock.connect(name)
            sock.sendall(data)
            reply = b""
            while b"\n" not in reply and len(reply) < 4096:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
    except OSError as e:
        return f"the chat did not take it ({e.strerror or e})"
    try:
        answer = json.loads(reply.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "the chat gave no answer"
    return "" if answer.get("ok") else str(answer.get("why") or "refused")
