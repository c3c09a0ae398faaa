"""The common part of the fake model APIs for Codex and Gemini CLI (standard library only): a
threaded HTTP server on 127.0.0.1, scripted replies, recorded requests, and streaming helpers.

A wire format is a subclass (`fake_responses.FakeResponses`, `fake_gemini.FakeGemini`) that says
which requests are conversation turns, what the user said in one, which requests are the CLI's
own side requests (a title, a routing decision), and how a reply streams.

Scripting, as in `fake_anthropic`: by default the reply is ``ECHO: <last user text>``;
``reply_for`` chooses another, :meth:`FakeModelApi.push` queues one-off replies and
:meth:`FakeModelApi.fail_next` makes the next requests fail with an HTTP status.
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeModelApi", "Reply", "RequestRecord"]


@dataclass(frozen=True)
class Reply:
    """What the fake answers to one request: `text` streamed in `chunks` pieces over `duration`
    seconds after `delay`, or (`status` other than 200) an error with `error_message`.
    `usage`: (input, output, cached input) tokens reported."""

    text: str = ""
    delay: float = 0.0
    duration: float = 0.0
    chunks: int = 0
    status: int = 200
    error_message: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    usage: tuple[int, int, int] = (10, 0, 0)
    details: tuple[Any, ...] = ()  # an error's structured details (Google's `details` list)

    @property
    def is_error(self) -> bool:
        return self.status != 200

    def pieces(self) -> list[str]:
        """The text split into the deltas to stream (never empty)."""
        n = self.chunks or (max(2, math.ceil(self.duration)) if self.duration > 0 else 1)
        n = max(1, min(n, len(self.text) or 1))
        size, extra = divmod(len(self.text), n)
        parts, pos = [], 0
        for i in range(n):
            end = pos + size + (1 if i < extra else 0)
            parts.append(self.text[pos:end])
            pos = end
        return parts

    @property
    def output_tokens(self) -> int:
        return self.usage[1] or max(1, len(self.text) // 4)


@dataclass
class RequestRecord:
    """One conversation request: the user texts of its history (oldest first), when it came,
    and when its last byte was flushed (`finished_at`, time.monotonic())."""

    index: int
    path: str
    body: dict[str, Any]
    texts: list[str]
    received_at: float
    received_wall: float
    reply: Reply | None = None
    finished_at: float | None = None
    finished_wall: float | None = None
    aborted: bool = False

    @property
    def last_user_text(self) -> str:
        return self.texts[-1] if self.texts else ""

    @property
    def status(self) -> int:
        return self.reply.status if self.reply else 0

    @property
    def done(self) -> bool:
        return self.finished_at is not None or self.aborted


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeModelApi


class Handler(BaseHTTPRequestHandler):
    """Plumbing shared by the wire formats; `FakeModelApi.handle_post` does the rest."""

    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.fake.verbose:
            sys.stderr.write(f"{type(self.server.fake).__name__}: {format % args}\n")

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_json(self, status: int, obj: Any, headers: tuple[tuple[str, str], ...] = ()) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_GET(self) -> None:
        self.read_body()
        self.server.fake.note_other("GET", self.path, b"")
        self.send_json(200, {})

    def do_POST(self) -> None:
        raw = self.read_body()
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        fake = self.server.fake
        if not isinstance(body, dict):
            fake.note_other("POST", self.path, raw)
            self.send_json(400, {"error": {"message": "bad JSON"}})
            return
        fake.handle_post(self, body, raw)


class FakeModelApi:
    """A fake model API on 127.0.0.1 (port 0: any free port); thread-safe."""

    def __init__(self, reply_for: Callable[[str], Reply | str] | None = None, *,
                 port: int = 0, verbose: bool = False) -> None:
        self.reply_for: Callable[[str], Reply | str] = reply_for or (
            lambda text: Reply(text=f"ECHO: {text}"))
        self.verbose = verbose
        self._port = port
        self._lock = threading.Condition()
        self._records: list[RequestRecord] = []
        self._script: deque[Reply] = deque()
        self._side: list[dict[str, Any]] = []
        self._others: list[tuple[str, str, bytes]] = []
        self.stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- what a wire format fills in -------------------------------------------------------
    def handle_post(self, h: Handler, body: dict[str, Any], raw: bytes) -> None:
        raise NotImplementedError

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> FakeModelApi:
        httpd = _Server(("127.0.0.1", self._port), Handler)
        httpd.fake = self
        self._httpd = httpd
        self.stopping.clear()
        self._thread = threading.Thread(target=httpd.serve_forever, daemon=True,
                                        name=type(self).__name__)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeModelApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the fake API is not running")
        return int(self._httpd.server_address[1])

    # --- scripting -----------------------------------------------------------------------------
    def push(self, *replies: Reply | str) -> None:
        """Queue replies used, in order, for the next conversation requests."""
        with self._lock:
            self._script.extend(Reply(text=r) if isinstance(r, str) else r for r in replies)

    def fail_next(self, n: int = 1, status: int = 500, message: str = "",
                  delay: float = 0.0) -> None:
        """The next `n` conversation requests fail with `status`."""
        self.push(*[Reply(status=status, error_message=message or f"fake error {status}",
                          delay=delay)] * n)

    def clear_script(self) -> None:
        with self._lock:
            self._script.clear()

    # --- inspection ----------------------------------------------------------------------------
    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    @property
    def side_requests(self) -> list[dict[str, Any]]:
        """Bodies of the CLI's own side requests (titles, routing): not conversation turns."""
        with self._lock:
            return list(self._side)

    @property
    def other_requests(self) -> list[tuple[str, str, bytes]]:
        with self._lock:
            return list(self._others)

    def wait_for_requests(self, n: int, timeout: float = 30.0, *,
                          finished: bool = True) -> list[RequestRecord]:
        """Wait until at least `n` conversation requests arrived (and were answered)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                recs = self._records[:n]
                if len(recs) >= n and (not finished or all(r.done for r in recs)):
                    return list(self._records)
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [r.last_user_text[:60] for r in self._records]
                    raise TimeoutError(f"wanted {n} request(s), saw {len(self._records)}: {seen}")
                self._lock.wait(left)

    # --- used by the wire formats --------------------------------------------------------------
    def begin(self, path: str, body: dict[str, Any],
              texts: list[str]) -> tuple[RequestRecord, Reply]:
        with self._lock:
            reply = self._script.popleft() if self._script else None
            rec = RequestRecord(len(self._records), path, body, texts, time.monotonic(),
                                time.time())
            self._records.append(rec)
            self._lock.notify_all()
        if reply is None:
            chosen = self.reply_for(rec.last_user_text)
            reply = Reply(text=chosen) if isinstance(chosen, str) else chosen
        rec.reply = reply
        return rec, reply

    def finish(self, rec: RequestRecord, aborted: bool = False) -> None:
        with self._lock:
            if aborted:
                rec.aborted = True
            else:
                rec.finished_at, rec.finished_wall = time.monotonic(), time.time()
            self._lock.notify_all()

    def note_side(self, body: dict[str, Any]) -> None:
        with self._lock:
            self._side.append(body)

    def note_other(self, method: str, path: str, raw: bytes) -> None:
        with self._lock:
            self._others.append((method, path, raw))

    def answer(self, h: Handler, rec: RequestRecord | None, reply: Reply,
               stream: Callable[[Reply], None], error: Callable[[Reply], dict[str, Any]]) -> None:
        """Delay, then an error or the stream; the record finished (or aborted) after."""
        try:
            if reply.delay > 0 and self.stopping.wait(reply.delay):
                return
            if reply.is_error:
                h.send_json(reply.status, error(reply), reply.headers)
            else:
                stream(reply)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            if rec is not None:
                self.finish(rec, aborted=True)
            h.close_connection = True
            return
        if rec is not None:
            self.finish(rec)

    def paced(self, reply: Reply) -> list[tuple[float, str]]:
        """(gap before, piece) for each delta of a reply streamed over its duration."""
        pieces = reply.pieces()
        gap = reply.duration / len(pieces) if reply.duration > 0 else 0.0
        return [(gap, p) for p in pieces]

    def wait_gap(self, gap: float) -> None:
        if gap and self.stopping.wait(gap):
            raise ConnectionAbortedError("server stopping")
