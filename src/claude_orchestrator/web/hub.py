"""One reader of the run log for every open page.

Pages subscribe to a topic (`overview:24`, `run:RUN_ID`, `pane:RUN_ID`). One thread looks
whether the log changed (`PRAGMA data_version`: one statement, `poll` apart), and when it did
renders each topic that has subscribers once, and hands the same text to all of them; twenty
open pages cost one render, not twenty. A topic is also rendered every `refresh` seconds (times
shown as "elapsed" move on, a run whose process died reads as interrupted), and a pane every
`pane_every` seconds while someone watches it (its screen is not in the log).

Each subscriber has a small queue of its own; its connection's thread waits on it and writes a
heartbeat when nothing came for `heartbeat` seconds, so a connection a sleeping laptop left
behind is found and closed. A subscriber that falls behind loses old renders, never the latest.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from claude_orchestrator.runlog import RunLog
from claude_orchestrator.runlog.overview import data_version

Render = Callable[[str], "str | None"]  # topic -> its fragment (None: nothing to show)


@dataclass(eq=False)
class Subscription:
    """One open page's wait for its topics' renders: (topic, text) in its inbox."""

    topics: tuple[str, ...]
    inbox: queue.Queue[bytes] = field(default_factory=lambda: queue.Queue(maxsize=8))

    def offer(self, text: bytes) -> None:
        """The newest render; an old one waiting is dropped first when the page is slow."""
        while True:
            try:
                self.inbox.put_nowait(text)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self.inbox.get_nowait()


class Hub:
    """The one reader: renders topics on change and fans them out to subscribers."""

    def __init__(self, log: RunLog, render: Render, *, poll: float = 0.5,
                 refresh: float = 15.0, pane_every: float = 2.0,
                 least_gap: float = 2.0) -> None:
        self.log = log
        self.render = render
        self.poll = poll
        self.refresh = refresh
        self.pane_every = pane_every
        self.least_gap = least_gap  # at most one render of a topic this often
        self._subs: dict[str, set[Subscription]] = {}
        self._last: dict[str, tuple[float, str, bytes]] = {}  # topic -> (when, text, event)
        self._pending: set[str] = set()  # changed, not rendered yet (too soon after the last)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="web-hub", daemon=True)
        self.renders = 0  # how many renders were made (the benchmark reads it)

    def start(self) -> Hub:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)

    def subscribe(self, *topics: str) -> Subscription:
        """A new subscriber; each topic's last render, when there is one, comes at once."""
        sub = Subscription(topics)
        with self._lock:
            for topic in topics:
                self._subs.setdefault(topic, set()).add(sub)
            known = [self._last[t][2] for t in topics if t in self._last]
        for item in known:
            sub.offer(item)
        if len(known) < len(topics):
            self._wake.set()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            for topic in sub.topics:
                subs = self._subs.get(topic)
                if subs is None:
                    continue
                subs.discard(sub)
                if not subs:
                    del self._subs[topic]
                    self._last.pop(topic, None)
                    self._pending.discard(topic)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._subs.values())

    def _loop(self) -> None:
        seen = -1
        while not self._stop.is_set():
            self._wake.wait(self.poll)
            self._wake.clear()
            with self._lock:
                topics = list(self._subs)
            if not topics:
                continue
            try:
                version = data_version(self.log)
            except Exception:  # a log being replaced or locked: try again next time
                continue
            changed, seen = version != seen, version
            now = time.monotonic()
            for topic in topics:
                self._maybe_render(topic, changed or topic in self._pending, now)

    def _maybe_render(self, topic: str, changed: bool, now: float) -> None:
        with self._lock:
            last = self._last.get(topic)
        due = (last is None
               or (topic.startswith("pane:") and now - last[0] >= self.pane_every)
               or (changed and now - last[0] >= self.least_gap)
               or now - last[0] >= self.refresh)
        if not due:
            if changed:
                self._pending.add(topic)  # rendered at a later look, once the gap has passed
            return
        self._pending.discard(topic)
        try:
            text = self.render(topic)
        except Exception as e:  # a broken render must not end the stream for everyone
            text = f'<p class="bad">could not render: {type(e).__name__}</p>'
        self.renders += 1
        if text is None:
            return
        event = event_bytes(topic, text)  # made once for every page
        with self._lock:
            self._last[topic] = (now, text, event)
            subs = list(self._subs.get(topic, ()))
            if last is not None and last[1] == text:
                return
        for sub in subs:
            sub.offer(event)


def event_bytes(topic: str, html: str) -> bytes:
    """One Server-Sent Event carrying a topic's fragment (JSON keeps it on one data line)."""
    data = json.dumps({"topic": topic, "html": html})
    return f"event: fragment\ndata: {data}\n\n".encode()
