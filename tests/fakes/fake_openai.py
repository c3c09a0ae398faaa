"""A local fake of an OpenAI-compatible chat-completions endpoint, for tests.

Stdlib only. It serves ``POST /v1/chat/completions`` and ``POST /api/v1/chat/completions``
(OpenRouter's path) on 127.0.0.1 at a free port, records every request (headers and JSON body),
and answers from a script: a queue of responses, then a default responder.

Examples:
    >>> with FakeOpenAI() as fake:
    ...     fake.enqueue(HttpError(429, headers={"Retry-After": "2"}), Reply("hello"))
    ...     fake.base_url.startswith("http://127.0.0.1:")
    True
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeAlias

CHAT_PATHS = ("/v1/chat/completions", "/api/v1/chat/completions")


# --- the scripted responses -------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """A normal completion whose message content is ``text`` (None gives ``"content": null``)."""

    text: str | None
    prompt_tokens: int = 11
    completion_tokens: int = 7
    cost: float | None = 0.0042
    model: str | None = None  # None: echo the requested model
    include_usage: bool = True
    finish_reason: str = "stop"


@dataclass(frozen=True)
class HttpError:
    """An HTTP error. ``body``: a dict is sent as JSON, a str as it is, None gives OpenRouter's
    usual ``{"error": {"code": status, "message": message}}``."""

    status: int
    message: str = ""
    body: dict[str, Any] | str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Delay:
    """Wait ``seconds`` (to make the client time out), then send ``then`` if anyone listens."""

    seconds: float
    then: Response | None = None


@dataclass(frozen=True)
class Trickle:
    """A 200 whose body (the completion of ``then``) comes one byte every ``every`` seconds:
    each read is quick, the whole answer takes for ever."""

    every: float = 0.5
    then: Reply = field(default_factory=lambda: Reply("finally"))


@dataclass(frozen=True)
class Malformed:
    """A 200 whose body is not JSON."""

    body: str = "<html><body>Bad gateway, sort of</body></html>"
    content_type: str = "application/json"


@dataclass(frozen=True)
class EmptyChoices:
    """A 200 with ``"choices": []``."""


@dataclass(frozen=True)
class NoChoices:
    """A 200 with JSON that has no ``choices`` key at all."""


@dataclass(frozen=True)
class Raw:
    """Any status, headers and body, sent verbatim."""

    status: int
    body: str
    headers: Mapping[str, str] = field(default_factory=dict)


Response: TypeAlias = (Reply | HttpError | Delay | Trickle | Malformed | EmptyChoices | NoChoices
                       | Raw)
Responder = Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it. ``headers`` keys are lower-case."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any  # the decoded body, or None if it was not JSON
    raw_body: bytes


def _default_responder(request: dict[str, Any]) -> str:
    return "OK"


# --- the server -------------------------------------------------------------------------------


class FakeOpenAI:
    """A scripted OpenAI-compatible server; use as a context manager.

    ``base_url`` is ``http://127.0.0.1:PORT/v1`` (``openrouter_base_url`` ends in ``/api/v1``).
    """

    def __init__(self, responder: Responder | None = None) -> None:
        self.responder: Responder = responder or _default_responder
        self._queue: deque[Response] = deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> FakeOpenAI:
        handler = _make_handler(self)
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # addresses
    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def openrouter_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    # script
    def enqueue(self, *responses: Response) -> None:
        with self._lock:
            self._queue.extend(responses)

    def _next(self) -> Response | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    # records
    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def completion_body(self, reply: Reply, request: Any) -> dict[str, Any]:
        model = reply.model
        if model is None:
            model = request.get("model", "fake/model") if isinstance(request, dict) else "fake"
        body: dict[str, Any] = {
            "id": f"gen-fake-{next(self._ids)}",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text},
                    "finish_reason": reply.finish_reason,
                }
            ],
        }
        if reply.include_usage:
            usage: dict[str, Any] = {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            }
            if reply.cost is not None:
                usage["cost"] = reply.cost
            body["usage"] = usage
        return body


def _make_handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: str, headers: Mapping[str, str] | None = None) -> None:
            data = body.encode("utf-8")
            try:
                self.send_response(status)
                sent = {k.lower() for k in (headers or {})}
                if "content-type" not in sent:
                    self.send_header("Content-Type", "application/json")
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                decoded: Any = json.loads(raw) if raw else None
            except ValueError:
                decoded = None
            fake._record(
                RecordedRequest(
                    method="POST",
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    json=decoded,
                    raw_body=raw,
                )
            )
            if self.path.split("?", 1)[0] not in CHAT_PATHS:
                self._send(404, json.dumps({"error": {"code": 404, "message": "no such path"}}))
                return
            script = fake._next()
            if script is None:
                text = fake.responder(decoded if isinstance(decoded, dict) else {})
                script = Reply(text)
            self._answer(script, decoded)

        def do_GET(self) -> None:
            self._send(404, json.dumps({"error": {"code": 404, "message": "not found"}}))

        def _answer(self, script: Response, request: Any) -> None:
            if isinstance(script, Reply):
                self._send(200, json.dumps(fake.completion_body(script, request)))
            elif isinstance(script, HttpError):
                if script.body is None:
                    message = script.message or HTTPStatus(script.status).phrase
                    body = json.dumps({"error": {"code": script.status, "message": message}})
                elif isinstance(script.body, str):
                    body = script.body
                else:
                    body = json.dumps(script.body)
                self._send(script.status, body, script.headers)
            elif isinstance(script, Delay):
                if fake._closing.wait(script.seconds):
                    return
                if script.then is not None:
                    self._answer(script.then, request)
                else:
                    self.close_connection = True
            elif isinstance(script, Trickle):
                data = json.dumps(fake.completion_body(script.then, request)).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    for i in range(len(data)):
                        if fake._closing.wait(script.every):
                            return
                        self.wfile.write(data[i:i + 1])
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
            elif isinstance(script, Malformed):
                self._send(200, script.body, {"Content-Type": script.content_type})
            elif isinstance(script, EmptyChoices):
                completion = fake.completion_body(Reply("unused"), request)
                completion["choices"] = []
                self._send(200, json.dumps(completion))
            elif isinstance(script, NoChoices):
                self._send(200, json.dumps({"id": "gen-fake", "object": "chat.completion"}))
            else:
                self._send(script.status, script.body, script.headers)

    return Handler
