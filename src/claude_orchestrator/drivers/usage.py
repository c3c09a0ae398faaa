"""What each turn did (Claude's tokens, the tools it used), read from its transcript after the
reply was handed over.

The design (issue 23): the reply goes to the person, the caller or the supervisor the moment the
turn ends. Claude writes the turn to its transcript some 50-150 ms after its Stop hook (seconds
later on a busy machine, and the first turn of 2.1.197 only once the file is made). So each
turn's usage is read by a thread of its own, which waits until the transcript holds the turn's
last message (the line with its reply; or the file stays unchanged for `QUIET` seconds; at
most `WAIT` seconds) and records the tokens once: the answers between the turn's own prompt and
that line (agents/transcript.py `turn_usage`), every message id counted once for the run. The
cost check before the next supervisor call uses what is recorded by then; `settle`, at the
run's end, waits for what is still being read, so the run's totals are exact.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

from claude_orchestrator.agents.transcript import TurnWork, size, turn_work

WAIT = 10.0  # longest wait for a turn's end in the transcript
QUIET = 2.0  # ... or this long without the transcript growing
POLL = 0.05


class UsageCollector:
    """Reads each turn's work in the background and hands it to `record(seq, work)`."""

    def __init__(self, record: Callable[[int, TurnWork], None], *, wait: float = WAIT,
                 quiet: float = QUIET, reader: Callable[..., TurnWork] = turn_work) -> None:
        """`reader`: the agent's own session-record reader (agents/base.py `turn_work`)."""
        self._record = record
        self._reader = reader
        self._wait = wait
        self._quiet = quiet
        self._seen: set[str] = set()  # message ids counted for this run
        self._lock = threading.Lock()
        self._pending: list[threading.Thread] = []

    def collect(self, seq: int, path: str, offset: int, *, prompt: str | None = None,
                reply: str | None = None) -> None:
        """Start reading turn `seq`'s tokens: written after byte `offset` of `path`, after the
        line of its `prompt`, up to the line holding its `reply`."""
        thread = threading.Thread(target=self._read, args=(seq, path, offset, prompt, reply),
                                  daemon=True, name=f"usage-{seq}")
        self._pending = [t for t in self._pending if t.is_alive()]
        self._pending.append(thread)
        thread.start()

    def _read(self, seq: int, path: str, offset: int, prompt: str | None,
              reply: str | None) -> None:
        deadline = time.monotonic() + self._wait
        last, still_since = size(path), time.monotonic()
        while True:
            done = self._reader(path, offset, prompt=prompt, reply=reply).done
            now = time.monotonic()
            if done or now >= deadline or now - still_since >= self._quiet:
                break
            time.sleep(POLL)
            grown = size(path)
            if grown != last:
                last, still_since = grown, time.monotonic()
        with self._lock:
            work = self._reader(path, offset, prompt=prompt, reply=reply, seen=self._seen)
        if work.tokens or work.tools:
            with contextlib.suppress(Exception):  # a busy log must not kill the thread loudly
                self._record(seq, work)

    def settle(self) -> None:
        """Wait (bounded) until every turn's tokens are recorded."""
        end = time.monotonic() + self._wait
        for thread in self._pending:
            thread.join(max(0.0, end - time.monotonic()))
        self._pending = [t for t in self._pending if t.is_alive()]
