"""A local endpoint for Apprise's `json://127.0.0.1:PORT/...` notifications: it records every
POST (path and JSON body), or answers 500 when told to fail, or never answers when told to
hang (a notifier that would hold a run)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


class NotifySink:
    def __init__(self, *, status: int = 200, hang: float = 0.0) -> None:
        self.status = status
        self.hang = hang
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size)
                with sink.lock:
                    sink.received.append({"path": self.path, **json.loads(body or b"{}")})
                if sink.hang:
                    time.sleep(sink.hang)
                self.send_response(sink.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "hook") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def titles(self) -> list[str]:
        with self.lock:
            return [str(m.get("title")) for m in self.received]

    def __enter__(self) -> NotifySink:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.server.shutdown()
        self.server.server_close()
