"""Issue 17, 6: `--supervisor-timeout` bounds the whole supervisor call, from connect to the
last byte: a real server on 127.0.0.1 that trickles its status line and headers (one byte at a
time, each well inside the per-read timeout) is cut at the deadline."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from claude_orchestrator.errors import SupervisorError
from claude_orchestrator.supervisor import SupervisorClient

KEY = "sk-or-v1-DEADLINE-0123456789abcdef"
HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: " + b"x" * 400
        + b"\r\nContent-Length: 2\r\n\r\n{}")


def read_request(conn: socket.socket) -> None:
    """Read the whole request, head and body. Closing a socket with unread bytes sends a reset,
    which the client may see before the answer: one `recv` can return the head alone, since the
    client may write the head and the body apart."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    missing = (int(length.group(1)) if length else 0) - len(body)
    while missing > 0:
        chunk = conn.recv(missing)
        if not chunk:
            return
        missing -= len(chunk)


@contextlib.contextmanager
def trickling_server(interval: float) -> Iterator[tuple[str, list[float]]]:
    """An HTTP server that reads a request and answers one byte every `interval` seconds;
    yields its base URL and, per connection, when it was cut (the client closed it)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    cut: list[float] = []
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            read_request(conn)
            for byte in HEAD:
                if stop.is_set():
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    cut.append(time.monotonic())
                    return
                time.sleep(interval)

    def accept() -> None:
        with contextlib.suppress(OSError):
            while not stop.is_set():
                conn, _ = listener.accept()
                threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1", cut
    finally:
        stop.set()
        listener.close()


@pytest.mark.parametrize("timeout", [1.0, 2.0])
def test_a_server_trickling_its_headers_is_cut_at_the_deadline(timeout: float) -> None:
    with trickling_server(0.05) as (url, cut):
        client = SupervisorClient(base_url=url, api_key=KEY, model="m/x", timeout=timeout,
                                  max_retries=0)
        started = time.monotonic()
        with pytest.raises(SupervisorError, match="no whole answer within") as raised:
            client.complete([{"role": "user", "content": "hi"}])
        took = time.monotonic() - started
        client.close()
        for _ in range(40):  # the server finds its connection closed
            if cut:
                break
            time.sleep(0.05)
    assert timeout <= took < timeout + 1.0, took  # the whole answer would take 22 s
    assert cut
    assert KEY not in str(raised.value)


def test_a_slow_but_whole_answer_within_the_deadline_is_taken() -> None:
    """The cutoff is the call's, not each byte's: an answer that comes in time is used."""
    with trickling_server(0.0) as (url, _):
        client = SupervisorClient(base_url=url, api_key=KEY, model="m/x", timeout=5.0,
                                  max_retries=0)
        with pytest.raises(SupervisorError, match=r"no choices|not a JSON|choices"):
            client.complete([{"role": "user", "content": "hi"}])  # `{}`: read, then judged
        client.close()
