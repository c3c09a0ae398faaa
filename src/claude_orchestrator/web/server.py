"""The HTTP side of `serve`: the standard library's threading server (a thread per connection;
a page costs a thread only while its event stream is open), the guard before every answer,
and the event streams fed by the hub.

Every answer says: no caching, no sniffing, no referrer, no framing, and a Content Security
Policy that runs only the page's own script (a per-answer nonce), fetches nothing from
anywhere else and posts forms only here.
"""

from __future__ import annotations

import contextlib
import queue
import secrets
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from claude_orchestrator.runlog import RunNotFound
from claude_orchestrator.web.app import App
from claude_orchestrator.web.guard import Guard, is_loopback, peer_uid
from claude_orchestrator.web.hub import Hub

HEARTBEAT = 15.0  # seconds between two heartbeats of an event stream
MAX_STREAMS = 64  # event streams open at once; more are refused (503), never queued
MAX_BODY = 64 * 1024  # a posted message


class WebServer(ThreadingHTTPServer):
    """The server, with what its handlers share."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: App, guard: Guard, hub: Hub) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, Handler)
        self.app, self.guard, self.hub = app, guard, hub
        self.streams = threading.BoundedSemaphore(MAX_STREAMS)
        self.stopping = threading.Event()
        self.my_uid = _my_uid()

    def shutdown(self) -> None:
        self.stopping.set()
        super().shutdown()


def _my_uid() -> int:
    import os

    return os.getuid()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: WebServer
    timeout = 60  # an idle connection is closed (its thread freed)
    _peer_checked: bool | None = None

    # ------------------------------------------------------------------------- plumbing
    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a page a minute must not fill the terminal (and URLs carry login codes)."""

    def _send(self, status: int, body: str | bytes, ctype: str = "text/html; charset=utf-8",
              headers: dict[str, str] | None = None, nonce: str = "") -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self._common(ctype, nonce)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _common(self, ctype: str, nonce: str = "") -> None:
        script = f"'nonce-{nonce}'" if nonce else "'none'"
        self.send_header("Content-Type", ctype)
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        # same-origin, not no-referrer: with no-referrer a form's Origin header is "null"
        self.send_header("Referrer-Policy", "same-origin")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Content-Security-Policy",
                         f"default-src 'none'; script-src {script}; style-src 'unsafe-inline'; "
                         "connect-src 'self'; img-src 'self' data:; form-action 'self'; "
                         "frame-ancestors 'none'; base-uri 'none'")

    def _text(self, status: int, line: str) -> None:
        self._send(status, line + "\n", "text/plain; charset=utf-8")

    def _guard(self) -> bool:
        """The checks before any answer; False when refused (the answer is sent)."""
        server = self.server
        if not self._peer_ok():
            self.close_connection = True
            self._text(403, "refused: this connection is another user's (see SECURITY.md)")
            return False
        if not server.guard.host_ok(self.headers.get("Host")):
            self.close_connection = True
            self._text(421, "refused: the Host header does not name this server")
            return False
        path = urllib.parse.urlsplit(self.path).path
        if path == "/login":
            return True
        if not server.guard.authorised(self.headers):
            self._text(401, "this page needs the token: an Authorization: Bearer header, or "
                            "the one-time link `serve` printed")
            return False
        return True

    def _peer_ok(self) -> bool:
        """A loopback connection must be this user's (Linux: by /proc/net/tcp)."""
        if self._peer_checked is None:
            host, port = self.client_address[:2]
            if not is_loopback(str(host)):
                self._peer_checked = True
            else:
                local = self.connection.getsockname()[:2]
                uid = peer_uid((str(host), int(port)), (str(local[0]), int(local[1])))
                self._peer_checked = uid is None or uid == self.server.my_uid
        return self._peer_checked

    # ------------------------------------------------------------------------- methods
    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        if not self._guard():
            return
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        path, app = url.path, self.server.app
        try:
            if path == "/":
                nonce = secrets.token_urlsafe(12)
                hours = _float(query.get("hours", [""])[0], app.hours)
                every = query.get("all", [""])[0] == "1"
                self._send(200, app.overview(hours, nonce, every), nonce=nonce)
            elif path == "/login":
                self._login(query.get("code", [""])[0])
            elif path == "/events":
                self._events(query.get("topic", []))
            elif path == "/api/runs":
                limit = int(_float(query.get("limit", [""])[0], 200))
                batch = query.get("batch", [None])[0]
                self._send(200, app.runs_json(max(1, min(limit, 100000)), batch),
                           "application/json")
            elif path.startswith("/api/runs/"):
                self._maybe(app.run_json(urllib.parse.unquote(path[10:])), "application/json")
            elif path.startswith("/runs/"):
                nonce = secrets.token_urlsafe(12)
                note = "sent: the chat delivers it after the turn at work" if query.get(
                    "sent") else ""
                page = app.run_page(urllib.parse.unquote(path[6:]), nonce, note)
                self._maybe(page, nonce=nonce)
            elif path == "/favicon.ico":
                self._send(204, b"", "image/x-icon")
            else:
                self._text(404, "no such page")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except RunNotFound as e:
            self._text(404, str(e))

    def do_POST(self) -> None:
        if not self._guard():
            return
        path = urllib.parse.urlsplit(self.path).path
        app = self.server.app
        if not (path.startswith("/runs/") and path.endswith("/send")):
            self._text(404, "no such form")
            return
        if not app.allow_send or app.send is None:
            self._text(403, "sending is off: start serve with --allow-send")
            return
        size = int(self.headers.get("Content-Length") or 0)
        if size <= 0 or size > MAX_BODY:
            self.close_connection = True
            self._text(413, f"a message is at most {MAX_BODY} bytes")
            return
        form = urllib.parse.parse_qs(self.rfile.read(size).decode("utf-8", "replace"))
        if not self.server.guard.form_ok(self.headers, form.get("csrf", [""])[0]):
            self._text(403, "refused: the form did not come from this page")
            return
        run_id = urllib.parse.unquote(path[len("/runs/"):-len("/send")])
        try:
            run = app.log.get_run(run_id)
        except RunNotFound as e:
            self._text(404, str(e))
            return
        refused = app.send(run, form.get("text", [""])[0])
        if refused:
            self._text(409, refused)
            return
        self._send(303, b"", headers={"Location": f"/runs/{urllib.parse.quote(run.id)}?sent=1"})

    # ------------------------------------------------------------------------- answers
    def _maybe(self, body: str | None, ctype: str = "text/html; charset=utf-8",
               nonce: str = "") -> None:
        if body is None:
            self._text(404, "no such run (see claude-orchestrator runs)")
        else:
            self._send(200, body, ctype, nonce=nonce)

    def _login(self, code: str) -> None:
        guard = self.server.guard
        if not guard.log_in(code):
            self._text(403, "this link was used already, or is wrong: restart serve for a "
                            "new one, or send the token as Authorization: Bearer")
            return
        self._send(303, b"", headers={"Location": "/", "Set-Cookie": guard.cookie_header()})

    def _events(self, topics: list[str]) -> None:
        """A Server-Sent Events stream of the topics' fragments, heartbeats in between."""
        topics = [t for t in topics if t.split(":", 1)[0] in ("overview", "run", "pane")][:4]
        if not topics:
            self._text(400, "which topics? /events?topic=overview:24")
            return
        server = self.server
        if not server.streams.acquire(blocking=False):
            self._text(503, "too many pages open at once")
            return
        sub = server.hub.subscribe(*topics)
        try:
            self.close_connection = True
            self.send_response(200)
            self._common("text/event-stream; charset=utf-8")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"retry: 3000\n\n")
            self.wfile.flush()
            while not server.stopping.is_set():
                try:
                    event = sub.inbox.get(timeout=HEARTBEAT)
                except queue.Empty:
                    event = b"event: ping\ndata: {}\n\n"
                self.wfile.write(event)
                self.wfile.flush()
        except OSError:  # the page went away (closed, slept, timed out)
            pass
        finally:
            server.hub.unsubscribe(sub)
            server.streams.release()


def _float(text: str, default: float) -> float:
    with contextlib.suppress(ValueError):
        value = float(text)
        if value == value and abs(value) != float("inf"):
            return value
    return default
