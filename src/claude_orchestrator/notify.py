"""Notifications through Apprise (`--notify URL`: mail, Slack, ntfy, Telegram, Discord, plain
JSON webhooks, ...): a run's end, a run that needs a person, a usage-limit pause's start and
end; a batch's one summary at its end, and its runs' needs-you as they happen.

One notification per event. They never slow or stop a run: each is sent by a thread of its
own, off the run's path, within `SEND_LIMIT` seconds; a failure is one line in the run's notes
and nothing else. The URLs carry tokens: they are redacted from everything (the Redactor has
their secrets), stored as `scheme://[REDACTED]`, and never printed. Apprise is an optional
extra, imported only when a URL is given.

A batch's runs send nothing themselves: the batch (which alone has the URLs; its runs' processes
get neither the URLs nor the variable) sends for them, so a night of twenty runs is twenty-one
messages at most plus one per person-needing stop and pause, never a storm of ends.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from claude_orchestrator.errors import UsageError
from claude_orchestrator.progress import Activity, Reporter, RunEvent
from claude_orchestrator.runlog import RunLog, RunRecord, open_runlog
from claude_orchestrator.runlog.format import first_line
from claude_orchestrator.screen import terminal_safe
from claude_orchestrator.secrets import shown_notify_url
from claude_orchestrator.web.needs import attach_command, needs_you

SEND_LIMIT = 10.0  # seconds one notification may take at one URL (Apprise: 4 s to connect)
INSTALL = "pip install 'claude-orchestrator[notify]'"
QUEUE = 64


def check(urls: Sequence[str]) -> None:
    """Apprise is installed and understands every URL; else a UsageError of one line."""
    try:
        import apprise
    except ImportError:
        raise UsageError(f"--notify needs Apprise: {INSTALL}") from None
    for url in urls:
        if apprise.Apprise.instantiate(url) is None:
            raise UsageError(f"--notify {shown_notify_url(url)}: Apprise does not know this "
                             "URL (see its list of services)")


class Notifier:
    """Sends titles and bodies to every URL, from one thread; failures are `note`d."""

    def __init__(self, urls: Sequence[str], redact: Callable[[str], str],
                 note: Callable[[str], None], limit: float = SEND_LIMIT) -> None:
        self.urls = list(urls)
        self.redact = redact
        self.note = note
        self.limit = limit
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue(maxsize=QUEUE)
        self._thread = threading.Thread(target=self._work, name="notify", daemon=True)
        self._thread.start()
        self.sent = 0

    def send(self, title: str, body: str) -> None:
        """Queue one notification (dropped, said, when many wait already)."""
        clean = (terminal_safe(self.redact(title)), terminal_safe(self.redact(body)))
        try:
            self._queue.put_nowait(clean)
        except queue.Full:
            self.note("notifications wait already; this one was dropped")

    def close(self, wait: float = SEND_LIMIT) -> None:
        """Let what waits go out (for at most `wait` seconds), then stop."""
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=1)
        self._thread.join(timeout=wait)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            for url in self.urls:
                self._one(url, *item)

    def _one(self, url: str, title: str, body: str) -> None:
        """Send to one URL in a thread of its own, waited for at most `limit` seconds."""
        outcome: list[object] = []

        def attempt() -> None:
            try:
                import apprise

                sender = apprise.Apprise()
                sender.add(url)
                outcome.append(bool(sender.notify(title=title, body=body)))
            except Exception as e:  # Apprise or a plugin failing in its own way
                outcome.append(e)

        worker = threading.Thread(target=attempt, name="notify-send", daemon=True)
        worker.start()
        worker.join(self.limit)
        shown = shown_notify_url(url)
        if not outcome:
            self.note(f"notification to {shown} took longer than {self.limit:g}s; given up "
                      "(the run goes on)")
        elif outcome[0] is True:
            self.sent += 1
        else:
            why = ("" if isinstance(outcome[0], bool) else
                   f": {type(outcome[0]).__name__}")
            self.note(f"notification to {shown} failed{why} (the run goes on)")


# ----------------------------------------------------------------------------- messages
def label(run: RunRecord) -> str:
    return first_line(run.task) or "chat session"


def end_message(run: RunRecord) -> tuple[str, str]:
    """A run's end: status, task, cost, branch, the command that continues it; a run that
    stopped for a person says so first."""
    need = needs_you(run)
    facts = [f"run {run.id}: {run.status}" + (f" (exit {run.exit_code})"
                                              if run.exit_code else ""),
             f"task: {label(run)}",
             f"cost: ${run.total_cost_usd:.4f} (supervisor ${run.cost_usd:.4f} + Claude "
             f"~${run.claude_cost_usd:.4f}, an estimate)"]
    if run.branch:
        changed = "" if run.files_changed is None else f", {run.files_changed} file(s) changed"
        facts.append(f"branch: {run.branch}{changed}")
    if run.message and run.status != "complete":
        facts.append(f"why: {run.message}")
    if run.next_step:
        facts.append(f"next: {run.next_step}")
    if need is not None:
        return f"needs you: {label(run)}", "\n".join([need.reason, *facts])
    return f"{run.status}: {label(run)}", "\n".join(facts)


def event_message(event: RunEvent, run: RunRecord) -> tuple[str, str] | None:
    """What an event says, or None when it says nothing worth a message."""
    if event.kind == "end":
        if run.status == "quit":  # a chat the person ended: they were there
            return None
        return end_message(run)
    if event.kind == "needs-you":
        return (f"needs you: {label(run)}",
                f"{event.detail}\nrun {run.id}: answer it in tmux: {attach_command(run)}")
    if event.kind == "pause":
        until = f" until {_clock(event.until)}" if event.until else ""
        return (f"paused{until}: {label(run)}",
                f"run {run.id} paused for a {event.detail}{until}; it goes on by itself")
    if event.kind == "pause-end":
        return (f"going on: {label(run)}", f"run {run.id}: the pause is over; it works again")
    return None


def _clock(dt: datetime) -> str:
    return dt.astimezone().strftime("%H:%M")


class NotifyingReporter:
    """The person's reporter, passing events on to a Notifier (each looked up in the run log
    on the notifier's side, by its own connection: the run's path only queues it)."""

    def __init__(self, inner: Reporter, notifier: Notifier, runlog: Path | str | None) -> None:
        self.inner = inner
        self.notifier = notifier
        self.runlog = runlog
        self._log: RunLog | None = None
        self._lock = threading.Lock()

    def event(self, event: RunEvent) -> None:
        self.inner.event(event)
        threading.Thread(target=self._tell, args=(event,), name="notify-event",
                         daemon=True).start()

    def _tell(self, event: RunEvent) -> None:
        try:
            with self._lock:
                if self._log is None:
                    self._log = open_runlog(self.runlog, readonly=True)
                run = self._log.get_run(event.run_id)
            message = event_message(event, run)
        except Exception as e:
            self.inner.note(f"notification not sent: {type(e).__name__}")
            return
        if message is not None:
            self.notifier.send(*message)

    def close(self) -> None:
        """Wait for events still being looked up, then for the notifications to go out."""
        for thread in threading.enumerate():
            if thread.name == "notify-event":
                thread.join(timeout=5)
        self.notifier.close()
        with self._lock:
            if self._log is not None:
                self._log.close()

    def note(self, message: str) -> None:
        self.inner.note(message)

    def waiting(self, what: str, activity: Activity = Activity.WORKING) -> None:
        self.inner.waiting(what, activity)

    def idle(self) -> None:
        self.inner.idle()

    def context(self, text: str) -> None:
        self.inner.context(text)

    def transcript(self, heading: str, text: str) -> None:
        self.inner.transcript(heading, text)


def reporter_for(inner: Reporter, urls: Sequence[str], redact: Callable[[str], str],
                 runlog: Path | str | None) -> Reporter:
    """`inner`, or with notifications when URLs are given (Apprise checked first)."""
    if not urls:
        return inner
    check(urls)
    return NotifyingReporter(inner, Notifier(urls, redact, inner.note), runlog)


class BatchNotices:
    """What a batch sends: its runs' needs-you and pauses as they happen (seen in the run log
    between two looks at the runs, 5 s apart), and one summary at its end."""

    def __init__(self, notifier: Notifier, batch_id: str) -> None:
        self.notifier = notifier
        self.batch_id = batch_id
        self._told: set[tuple[str, str]] = set()  # (run, what) already sent

    def _once(self, key: tuple[str, str], title: str, body: str) -> None:
        if key not in self._told:
            self._told.add(key)
            self.notifier.send(title, body)

    def ended(self, run: RunRecord) -> None:
        """A run of the batch ended: only a run that needs a person is told now."""
        if needs_you(run) is not None:
            self._once((run.id, f"end-{run.ended_at}"), *end_message(run))

    def look(self, log: RunLog, run_ids: Sequence[str]) -> None:
        """The runs at work: a question waiting for a person, a pause begun or ended."""
        for run_id in run_ids:
            with contextlib.suppress(Exception):
                run = log.get_run(run_id)
                if run.status == "running" and (run.activity or "").startswith("waiting"):
                    self._once((run.id, f"waiting-{run.activity_at}"), *(event_message(
                        RunEvent("needs-you", run.id, "Claude shows a question nobody has "
                                 "answered"), run) or ("", "")))
                for p in log.pauses(run_id):
                    self._once((run.id, f"pause-{p.seq}"), *(event_message(
                        RunEvent("pause", run.id, p.reason, p.until_at), run) or ("", "")))
                    if p.ended_at is not None:
                        self._once((run.id, f"pause-end-{p.seq}"), *(event_message(
                            RunEvent("pause-end", run.id), run) or ("", "")))

    def close(self) -> None:
        self.notifier.close()

    def finished(self, runs: Sequence[RunRecord], stopped: bool) -> None:
        """The one summary of the batch."""
        counts: dict[str, int] = {}
        for r in runs:
            counts[r.status] = counts.get(r.status, 0) + 1
        done = counts.get("complete", 0)
        cost = sum(r.total_cost_usd for r in runs)
        lines = [", ".join(f"{n} {status}" for status, n in sorted(counts.items())),
                 f"cost: ${cost:.4f} (Claude's part an estimate)"]
        for r in runs:
            need = needs_you(r)
            if need is not None:
                lines.append(f"needs you: {label(r)} ({r.id}): {r.next_step or need.command}")
        if stopped or any(r.status in ("queued", "interrupted") for r in runs):
            lines.append(f"continue: claude-orchestrator batch --resume {self.batch_id}")
        state = "stopped" if stopped else "ended"
        self.notifier.send(f"batch {state}: {done} of {len(runs)} complete",
                           f"batch {self.batch_id}\n" + "\n".join(lines))


def batch_notices(urls: Sequence[str], redact: Callable[[str], str],
                  note: Callable[[str], None]) -> BatchNotices:
    """A batch's notices (Apprise checked first; the batch id is set once it is made)."""
    check(urls)
    return BatchNotices(Notifier(urls, redact, note), "")
