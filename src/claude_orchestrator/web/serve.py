"""`claude-orchestrator serve`: a local web page of the runs, live, from the run log.

    claude-orchestrator serve [--host 127.0.0.1] [--port 8765] [--token-file F] [--allow-send]

It prints one line with its URL and serves until Ctrl-C. It reads the run log and tmux and
drives nothing, except that `--allow-send` lets a running chat's page hand the chat a message
(through the chat's private inbox: runtime/inbox.py). Safety: web/guard.py.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from claude_orchestrator.config import RUNLOG_HELP, runlog_target
from claude_orchestrator.errors import UsageError
from claude_orchestrator.flags import Parser
from claude_orchestrator.runlog import RunLog, RunLogMissing, RunRecord, open_runlog
from claude_orchestrator.web.app import App
from claude_orchestrator.web.guard import Guard, is_loopback, read_token_file
from claude_orchestrator.web.hub import Hub
from claude_orchestrator.web.redaction import page_redactor
from claude_orchestrator.web.server import WebServer

DEFAULT_PORT = 8765


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="claude-orchestrator serve",
               description="A local web page of the runs in the run log, live: the night at "
                           "a glance, what needs you, each run's timeline and pane, JSON at "
                           "/api/runs. Binds 127.0.0.1 unless told otherwise; any other "
                           "address needs --token-file.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; any other needs --token-file)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--token-file", type=Path,
                   help="a file (yours, mode 0600) holding the token every request must carry "
                        "(Authorization: Bearer, or the cookie of the one-time link printed)")
    p.add_argument("--allow-send", action="store_true",
                   help="a running chat session's page gets a message box; the chat delivers "
                        "the message between turns, as if typed at its prompt")
    p.add_argument("--hours", type=float, default=24.0,
                   help="how far back the overview looks by default (default 24)")
    p.add_argument("--runlog", help=RUNLOG_HELP)
    return p


def main(args: list[str], environ: Mapping[str, str] | None = None) -> int:
    """`environ`: the settings' environment (the CLI took the key out of os.environ)."""
    env = os.environ if environ is None else environ
    ns = parser().parse_args(args)
    if not 0 <= ns.port <= 65535:
        raise UsageError(f"--port must be 0 to 65535, got {ns.port}")
    if not 1 <= ns.hours <= 24 * 30:
        raise UsageError(f"--hours must be 1 to 720, got {ns.hours:g}")
    if not is_loopback(ns.host) and ns.token_file is None:
        raise UsageError(f"--host {ns.host} is reachable from other machines: give "
                         "--token-file FILE (a private file holding a token), or leave --host "
                         "out for 127.0.0.1")
    token = read_token_file(ns.token_file.expanduser()) if ns.token_file else None
    source = "--runlog" if ns.runlog else "CLAUDE_ORCHESTRATOR_RUNLOG"
    log = _open(runlog_target(source, ns.runlog or env.get("CLAUDE_ORCHESTRATOR_RUNLOG")))
    with log:
        return _serve(ns, log, token, env)


def _open(path: Path | str | None) -> RunLog:
    """The run log, read-only; made empty first when there is none yet (the page waits for
    the first run instead of refusing)."""
    try:
        return open_runlog(path, readonly=True)
    except RunLogMissing:
        open_runlog(path).close()
        return open_runlog(path, readonly=True)


def _serve(ns: argparse.Namespace, log: RunLog, token: str | None,
           env: Mapping[str, str]) -> int:
    runs: list[RunRecord] = log.list_runs(limit=100_000)
    redact = page_redactor(env, runs, extra=[token] if token else [])
    guard = Guard(ns.host, ns.port, token)
    app = App(log, redact, allow_send=ns.allow_send, csrf=guard.csrf, hours=ns.hours)
    if ns.allow_send:
        from claude_orchestrator.web.sending import hand_to_chat

        app.send = hand_to_chat
    hub = Hub(log, app.render)
    try:
        server = WebServer((ns.host, ns.port), app, guard, hub)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise UsageError(f"port {ns.port} on {ns.host} is in use (choose another with "
                             "--port)") from None
        raise UsageError(f"cannot listen on {ns.host}:{ns.port}: {e.strerror}") from None
    guard.port = server.server_address[1]
    shown = f"[{ns.host}]" if ":" in ns.host else ns.host
    url = f"http://{shown}:{guard.port}/"
    hub.start()
    print(f"serving {log.where} at {url} (Ctrl-C stops)", flush=True)
    if token:
        print(f"open once in your browser (the link works one time): {url}login?code="
              f"{guard.login_code}", flush=True)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stopping.set()
        server.server_close()
        hub.close()
    sys.stderr.write("serve: stopped\n")
    return 0
