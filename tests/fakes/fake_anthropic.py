"""A fake Anthropic Messages API for tests (standard library only).

Claude Code talks to it when started with ``ANTHROPIC_BASE_URL=http://127.0.0.1:PORT``.

* ``POST /v1/messages`` (any query string, e.g. ``?beta=true``) answers with a streamed
  server-sent-events reply shaped as Claude Code 2.1.197 expects (``message_start``,
  ``content_block_start``, ``content_block_delta``..., ``content_block_stop``, ``message_delta``
  with ``stop_reason: end_turn``, ``message_stop``), or a plain JSON message when the request's
  ``stream`` is false.
* Every other path (GET or POST) answers 200 ``{}``.
* The session-title request (its user text starts with ``<session>``; Claude Code asks for JSON
  with a ``title`` field) gets ``{"title": <title>}`` and is not counted as a conversation turn
  (see :attr:`FakeAnthropic.title_requests`).
* Every conversation request is recorded as a :class:`RequestRecord`: the user texts of its
  ``messages`` (``<system-reminder>`` blocks and system-role entries skipped), the last of which is
  what the user just said, when it arrived, and when the last SSE event was written and flushed.

Behaviour is scripted with :class:`Reply`: by default the reply is ``ECHO: <last user text>``;
``reply_for`` (a callable ``str -> Reply | str``) chooses another, :meth:`FakeAnthropic.push`
queues one-off replies, and :meth:`FakeAnthropic.fail_next` makes the next N requests fail with an
HTTP error status.

Tool use: ``Reply(tool_use={"name": "Bash", "input": {...}})`` answers with a tool call (an
optional text block first when ``text`` is set, then a ``tool_use`` block whose input is streamed
as ``input_json_delta`` pieces, ``stop_reason: tool_use``). Claude Code runs the tool and sends
the next request with a ``tool_result`` block in its last user message:
:attr:`RequestRecord.tool_results` holds their contents as text (its ``last_user_text`` is still
the user's last own text), and the next scripted reply answers it.

Use::

    with FakeAnthropic() as api:
        env["ANTHROPIC_BASE_URL"] = api.base_url
        ...
        rec = api.wait_for_requests(1, timeout=30)[0]
        assert rec.last_user_text == "hello"

Manual use: ``python -m tests.fakes.fake_anthropic --port 8765 [--delay S] [--duration S]``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "FakeAnthropic",
    "Reply",
    "RequestRecord",
    "echo_reply",
    "tool_result_blocks",
    "user_texts",
]

DEFAULT_MODEL = "claude-sonnet-4-5"
TITLE_PREFIX = "<session>"
REMINDER_PREFIX = "<system-reminder>"

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass(frozen=True)
class Reply:
    """What the fake answers to one request.

    ``status`` other than 200 makes an error answer: that status with the JSON body
    ``{"type": "error", "error": {"type": error_type, "message": error_message}}``
    (``error_type`` defaults to the usual type for the status).

    ``delay`` waits before anything is sent (no headers yet). ``duration`` spreads the text over
    ``chunks`` text deltas spaced evenly in time (``chunks`` defaults to one per second of
    ``duration``, at least 2), e.g. ``Reply("...", duration=30)`` is a 30-second turn.
    """

    text: str = ""
    delay: float = 0.0
    duration: float = 0.0
    chunks: int = 0
    status: int = 200
    error_type: str = ""
    error_message: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    """Extra response headers (e.g. ``retry-after``, a subscriber's ``anthropic-ratelimit-*``)."""
    usage: tuple[int, int, int, int] = (10, 0, 0, 0)
    """(input, cache write, cache read, output) tokens reported for the reply; output 0 means
    the default (a quarter of the text's length)."""
    tool_use: dict[str, Any] | None = field(default=None, hash=False)
    """A tool call after the text (if any): ``{"name": ..., "input": {...}}`` and optionally
    ``"id"`` (default ``toolu_fake_<hex>``). The reply then stops with ``stop_reason: tool_use``."""

    @property
    def is_error(self) -> bool:
        return self.status != 200

    @property
    def stop_reason(self) -> str:
        return "tool_use" if self.tool_use is not None else "end_turn"

    def tool_block(self) -> dict[str, Any] | None:
        """The complete ``tool_use`` content block (with a fresh id unless one was given)."""
        if self.tool_use is None:
            return None
        return {
            "type": "tool_use",
            "id": str(self.tool_use.get("id") or "toolu_fake_" + uuid.uuid4().hex[:20]),
            "name": str(self.tool_use["name"]),
            "input": dict(self.tool_use.get("input") or {}),
        }

    def error_body(self) -> dict[str, Any]:
        etype = self.error_type or _ERROR_TYPES.get(self.status, "api_error")
        msg = self.error_message or f"fake error {self.status}"
        return {"type": "error", "error": {"type": etype, "message": msg}}

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


@dataclass
class RequestRecord:
    """One conversation request (``POST /v1/messages`` that is not a title request)."""

    index: int
    path: str
    body: dict[str, Any]
    texts: list[str]
    """The user texts of every user message, oldest first (reminders skipped)."""
    received_at: float
    """time.monotonic() when the request body had been read."""
    received_wall: float
    """time.time() at the same moment."""
    reply: Reply | None = None
    finished_at: float | None = None
    """time.monotonic() just after the last byte (``message_stop`` or error body) was flushed."""
    finished_wall: float | None = None
    aborted: bool = False
    """The client closed the connection before the reply was complete (e.g. Escape)."""
    tool_use_id: str | None = None
    """The id of the tool call this request's reply made (``Reply.tool_use``), once answered."""

    @property
    def tool_results(self) -> list[str]:
        """The ``tool_result`` blocks of the last user message, each content as text (text
        blocks joined by newlines); empty when the request does not carry tool results."""
        return [_result_text(b.get("content")) for b in self.tool_result_blocks]

    @property
    def tool_result_blocks(self) -> list[dict[str, Any]]:
        """The raw ``tool_result`` blocks of the last user message (``tool_use_id``,
        ``content``, ``is_error``)."""
        return tool_result_blocks(self.body.get("messages"))

    @property
    def last_user_text(self) -> str:
        """What the user just said: the last user text of the request."""
        return self.texts[-1] if self.texts else ""

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def status(self) -> int:
        return self.reply.status if self.reply else 0

    @property
    def done(self) -> bool:
        return self.finished_at is not None or self.aborted


def _block_texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [] if content.lstrip().startswith(REMINDER_PREFIX) else [content]
    out: list[str] = []
    if isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and block.get("type") == "text":
                text = str(block.get("text", ""))
                if not text.lstrip().startswith(REMINDER_PREFIX):
                    out.append(text)
    return out


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(b.get("text", "")) for b in content
                         if isinstance(b, dict) and b.get("type") == "text")
    return ""


def tool_result_blocks(messages: Any) -> list[dict[str, Any]]:
    """The ``tool_result`` blocks of the last user message of a ``messages`` list."""
    if not isinstance(messages, list):
        return []
    for msg in reversed(messages):
        if isinstance(msg, dict) and msg.get("role") == "user":
            content = msg.get("content")
            if not isinstance(content, list):
                return []
            return [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
    return []


def user_texts(messages: Any) -> list[str]:
    """The user's own texts in a Messages API ``messages`` list, oldest first.

    Content may be a string or a list of blocks; ``<system-reminder>`` text blocks, non-text
    blocks (tool results...) and entries whose role is not ``user`` are skipped. A user message
    with several text blocks contributes each of them.
    """
    out: list[str] = []
    if not isinstance(messages, list):
        return out
    for msg in messages:
        if isinstance(msg, dict) and msg.get("role") == "user":
            out.extend(_block_texts(msg.get("content")))
    return out


def echo_reply(user_text: str) -> Reply:
    """The default reply: ``ECHO: <user text>``."""
    return Reply(text=f"ECHO: {user_text}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeAnthropic


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.fake.verbose:
            sys.stderr.write("fake_anthropic: " + (format % args) + "\n")

    # --- plumbing -----------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, obj: Any,
                   headers: tuple[tuple[str, str], ...] = ()) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", "req_fake_" + uuid.uuid4().hex[:16])
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _event(self, name: str, obj: dict[str, Any]) -> None:
        obj = {"type": name, **obj}
        self._chunk(f"event: {name}\ndata: {json.dumps(obj)}\n\n".encode())

    # --- routes -------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._read_body()
        self._send_json(200, {})

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        raw = self._read_body()
        fake = self.server.fake
        route = self.path.split("?", 1)[0].rstrip("/")
        if route != "/v1/messages":
            fake._note_other(self.command, self.path, raw)
            self._send_json(200, {})
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send_json(400, Reply(status=400, error_message="bad JSON").error_body())
            return
        texts = user_texts(body.get("messages"))
        model = str(body.get("model") or DEFAULT_MODEL)
        if texts and texts[-1].lstrip().startswith(TITLE_PREFIX):
            fake._note_title(body)
            # Claude Code asks for JSON ({"title": ...}, output_config json_schema).
            self._answer(body, Reply(text=json.dumps({"title": fake.title})), model, None)
            return
        rec, reply = fake._begin(self.path, body, texts)
        self._answer(body, reply, model, rec)

    def _answer(
        self, body: dict[str, Any], reply: Reply, model: str, rec: RequestRecord | None
    ) -> None:
        fake = self.server.fake
        try:
            if reply.delay > 0 and fake._stopping.wait(reply.delay):
                return
            if reply.is_error:
                self._send_json(reply.status, reply.error_body(), reply.headers)
            elif body.get("stream"):
                self._stream(reply, model, rec)
            else:
                self._send_json(200, fake._message(reply.text, model, reply, rec))
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            if rec is not None:
                fake._finish(rec, aborted=True)
            self.close_connection = True
            return
        if rec is not None:
            fake._finish(rec)

    def _stream(self, reply: Reply, model: str, rec: RequestRecord | None = None) -> None:
        fake = self.server.fake
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("request-id", "req_fake_" + uuid.uuid4().hex[:16])
        self.end_headers()
        msg = fake._message("", model)
        msg["content"] = []
        msg["stop_reason"] = None
        inp, cache_write, cache_read, out = reply.usage
        msg["usage"] = {"input_tokens": inp, "cache_creation_input_tokens": cache_write,
                        "cache_read_input_tokens": cache_read, "output_tokens": 1}
        self._event("message_start", {"message": msg})
        tool = reply.tool_block()
        index = 0
        if tool is None or reply.text:
            self._event(
                "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}
            )
            pieces = reply.pieces()
            gap = reply.duration / len(pieces) if reply.duration > 0 else 0.0
            for piece in pieces:
                if gap and fake._stopping.wait(gap):
                    raise ConnectionAbortedError("server stopping")
                self._event(
                    "content_block_delta",
                    {"index": 0, "delta": {"type": "text_delta", "text": piece}},
                )
            self._event("content_block_stop", {"index": 0})
            index = 1
        if tool is not None:
            if rec is not None:
                rec.tool_use_id = tool["id"]
            start = {**tool, "input": {}}
            self._event("content_block_start", {"index": index, "content_block": start})
            args = json.dumps(tool["input"])
            half = len(args) // 2
            for part in ("", args[:half], args[half:]):
                self._event(
                    "content_block_delta",
                    {"index": index, "delta": {"type": "input_json_delta", "partial_json": part}},
                )
            self._event("content_block_stop", {"index": index})
        out_tokens = out or max(1, len(reply.text) // 4)
        self._event(
            "message_delta",
            {
                "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
                "usage": {"input_tokens": inp, "cache_creation_input_tokens": cache_write,
                          "cache_read_input_tokens": cache_read, "output_tokens": out_tokens},
            },
        )
        self._event("message_stop", {})
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class FakeAnthropic:
    """A fake Messages API server on 127.0.0.1 (port 0 = any free port), thread-safe.

    Start with :meth:`start` or a ``with`` block; :attr:`base_url` is what goes into
    ``ANTHROPIC_BASE_URL``.
    """

    def __init__(
        self,
        reply_for: Callable[[str], Reply | str] | None = None,
        *,
        port: int = 0,
        title: str = "Fake session",
        verbose: bool = False,
    ) -> None:
        self.reply_for: Callable[[str], Reply | str] = reply_for or echo_reply
        self.title = title
        self.verbose = verbose
        self._port = port
        self._lock = threading.Condition()
        self._records: list[RequestRecord] = []
        self._script: deque[Reply] = deque()
        self._titles: list[dict[str, Any]] = []
        self._others: list[tuple[str, str, bytes]] = []
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> FakeAnthropic:
        httpd = _Server(("127.0.0.1", self._port), _Handler)
        httpd.fake = self
        self._httpd = httpd
        self._stopping.clear()
        self._thread = threading.Thread(
            target=httpd.serve_forever, name="fake-anthropic", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FakeAnthropic is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- scripting ----------------------------------------------------------------------------
    def push(self, *replies: Reply | str) -> None:
        """Queue replies used, in order, for the next conversation requests (before reply_for)."""
        with self._lock:
            self._script.extend(Reply(text=r) if isinstance(r, str) else r for r in replies)

    def fail_next(
        self,
        n: int = 1,
        status: int = 529,
        error_type: str = "",
        message: str = "",
        delay: float = 0.0,
    ) -> None:
        """Make the next ``n`` conversation requests fail with ``status``.

        The failures are queued like :meth:`push` (after replies already queued)."""
        self.push(
            *[Reply(status=status, error_type=error_type, error_message=message, delay=delay)] * n
        )

    def clear_script(self) -> None:
        with self._lock:
            self._script.clear()

    # --- inspection ---------------------------------------------------------------------------
    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the conversation request records so far, oldest first."""
        with self._lock:
            return list(self._records)

    @property
    def title_requests(self) -> list[dict[str, Any]]:
        """Bodies of the title requests (user text starting with ``<session>``)."""
        with self._lock:
            return list(self._titles)

    @property
    def other_requests(self) -> list[tuple[str, str, bytes]]:
        """(method, path, body) of POSTs to paths other than /v1/messages."""
        with self._lock:
            return list(self._others)

    def wait_for_requests(
        self, n: int, timeout: float = 30.0, *, finished: bool = True
    ) -> list[RequestRecord]:
        """Wait until at least ``n`` conversation requests arrived (and, by default, were answered
        completely or aborted); return all records. Raises TimeoutError with what was seen."""
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

    # --- internals used by the handler ---------------------------------------------------------
    def _begin(
        self, path: str, body: dict[str, Any], texts: list[str]
    ) -> tuple[RequestRecord, Reply]:
        now_m, now_w = time.monotonic(), time.time()
        with self._lock:
            reply = self._script.popleft() if self._script else None
            rec = RequestRecord(len(self._records), path, body, texts, now_m, now_w)
            self._records.append(rec)
            self._lock.notify_all()
        if reply is None:
            chosen = self.reply_for(rec.last_user_text)
            reply = Reply(text=chosen) if isinstance(chosen, str) else chosen
        rec.reply = reply
        return rec, reply

    def _finish(self, rec: RequestRecord, aborted: bool = False) -> None:
        now_m, now_w = time.monotonic(), time.time()
        with self._lock:
            if aborted:
                rec.aborted = True
            else:
                rec.finished_at, rec.finished_wall = now_m, now_w
            self._lock.notify_all()
        if self.verbose:
            state = "aborted" if aborted else f"finished status={rec.status}"
            sys.stderr.write(f"fake_anthropic: #{rec.index} {state} {rec.last_user_text[:60]!r}\n")

    def _note_title(self, body: dict[str, Any]) -> None:
        with self._lock:
            self._titles.append(body)

    def _note_other(self, method: str, path: str, raw: bytes) -> None:
        with self._lock:
            self._others.append((method, path, raw))

    @staticmethod
    def _message(
        text: str, model: str, reply: Reply | None = None, rec: RequestRecord | None = None
    ) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "text", "text": text}]
        tool = reply.tool_block() if reply is not None else None
        if tool is not None:
            content = (content if text else []) + [tool]
            if rec is not None:
                rec.tool_use_id = tool["id"]
        return {
            "id": "msg_fake_" + uuid.uuid4().hex[:20],
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": reply.stop_reason if reply is not None else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": max(1, len(text) // 4)},
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the fake Anthropic Messages API.")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each reply starts")
    parser.add_argument(
        "--duration", type=float, default=0.0, help="seconds to stream each reply over"
    )
    parser.add_argument("--fail", type=int, default=0, help="fail this many requests first")
    parser.add_argument("--fail-status", type=int, default=529, help="HTTP status for --fail")
    parser.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    args = parser.parse_args(argv)

    def reply_for(text: str) -> Reply:
        return Reply(text=f"ECHO: {text}", delay=args.delay, duration=args.duration)

    fake = FakeAnthropic(reply_for, port=args.port, verbose=not args.quiet)
    fake.start()
    if args.fail:
        fake.fail_next(args.fail, status=args.fail_status)
    print(f"fake Anthropic API on {fake.base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
