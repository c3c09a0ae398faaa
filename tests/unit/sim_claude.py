"""A model of Claude Code as the turn machine sees it: its input box, its turns, its queue, and
the hook events each release writes (shared/claude-code-facts.md, measured on 2.1.197 and
2.1.332). Pure Python, no tmux: the property tests drive the turn machine against it in random
orders of events, and check what it did to the model (what was pasted, submitted, answered).
`SimLive` puts it behind the driver's seam (turn/live.py), so the shipped driver runs on it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from claude_orchestrator.progress import Activity as RunActivity
from claude_orchestrator.progress import QuietReporter
from claude_orchestrator.runtime.hooks import HookEvent
from claude_orchestrator.runtime.tmux import PaneStatus
from claude_orchestrator.runtime.watch import Activity
from claude_orchestrator.turn.events import Frame
from claude_orchestrator.turn.ledger import Ledger

RULE = "─" * 60


@dataclass
class SimTurn:
    pid: str
    texts: list[str]

    @property
    def reply(self) -> str:
        return "REPLY[" + " + ".join(self.texts) + "]"


@dataclass
class SimClaude:
    """One Claude Code session. `release` is 197 or 332 (when a queued message's
    UserPromptSubmit fires, and with which prompt id)."""

    release: int = 332
    swallow: int = 0  # this many Enters are lost (typed too early, a redraw ate them)
    garble_first: bool = False  # the first submitted text arrives changed
    question: bool = False  # a permission question is open on the screen
    in_tool: bool = False  # the running turn goes on with a tool (its question was answered)
    failure: str = ""  # the next turn ends with StopFailure of this kind
    lose_pastes: int = 0  # this many pastes never reach the box (a TUI not ready for input)
    hooks: bool = True  # its hooks report (False: disabled, nothing is ever written)
    person_typed_at: float | None = None  # a person's terminal is attached; they last typed then
    typing_when_pasted: list[float] = field(default_factory=list)  # their idle time at a paste

    now: float = 0.0
    pos: int = 0  # the events file's size
    written: list[HookEvent] = field(default_factory=list)  # in the file, not read yet
    box: str = ""
    running: SimTurn | None = None
    queue: list[str] = field(default_factory=list)
    finished: list[SimTurn] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)  # every text Enter submitted
    pasted: list[tuple[str, bool]] = field(default_factory=list)  # (text, a question was open)
    history: list[str] = field(default_factory=list)  # the conversation shown on screen
    dead: bool = False
    drawn_at: float = 0.0
    _pids: int = 0
    _garbled: bool = False

    def __post_init__(self) -> None:
        # Claude's hooks report from its start: SessionStart comes before any turn (a ledger
        # that never saw one drives by the screen; `hooks=False` is such a Claude).
        self._write("SessionStart", source="startup", transcript_path="")

    # ------------------------------------------------------------------ the hook record
    def _write(self, name: str, **payload: Any) -> None:
        if not self.hooks:
            return
        body = {"hook_event_name": name, "session_id": "sim", **payload}
        self.pos += 40 + len(str(body))
        self.written.append(HookEvent(self.pos, name, body))

    def read(self) -> list[HookEvent]:
        """What the orchestrator reads from the events file now."""
        out, self.written = self.written, []
        return out

    def _pid(self) -> str:
        self._pids += 1
        return f"p{self._pids}"

    def _draw(self) -> None:
        self.drawn_at = self.now

    # ------------------------------------------------------------------ what tmux does
    def paste(self, text: str) -> int:
        """The text goes into the box; returns the events-file position before it."""
        self.pasted.append((text, self.question))
        if self.person_typed_at is not None:
            self.typing_when_pasted.append(self.now - self.person_typed_at)
        mark = self.pos
        if self.lose_pastes:
            self.lose_pastes -= 1
        elif not self.dead and not self.question:
            self.box += text
        self._draw()
        return mark

    def clear(self) -> None:
        if not self.question:
            self.box = ""
            self._draw()

    def enter(self) -> None:
        if self.dead or self.question or not self.box:
            return
        if self.swallow:
            self.swallow -= 1
            return
        text, self.box = self.box, ""
        self.submit(text)

    def submit(self, text: str) -> None:
        """A text leaves the box (ours, or one a person typed at the pane)."""
        self.submitted.append(text)
        received = text.rstrip()
        if self.garble_first and not self._garbled:
            self._garbled = True
            received = received[:-1] + ("x" if received[-1:] != "x" else "y")
        self.history.append("❯ " + received.split("\n", 1)[0])
        if self.running is not None and self.in_tool and self.release < 332:
            # 2.1.197 folds it into the turn at work (a note to the model): no submit event,
            # no turn of its own; that turn's reply is all it gets.
            self.running.texts.append(received)
        elif self.running is not None:
            self.queue.append(received)
            if self.release >= 332:  # fires when queued, with the busy turn's id
                self._write("UserPromptSubmit", prompt=received, prompt_id=self.running.pid)
        else:
            turn = SimTurn(self._pid(), [received])
            self._write("UserPromptSubmit", prompt=received, prompt_id=turn.pid)
            self.running = turn
        self._draw()

    def start_earlier_turn(self, text: str) -> None:
        """A turn already running when the message comes (a person's, or one given up on)."""
        self.submit(text)

    def finish_turn(self) -> None:
        """The running turn ends: its Stop, then what was queued is taken up as one turn."""
        turn = self.running
        if turn is None or self.dead or self.question:
            return
        self.finished.append(turn)
        self.in_tool = False
        self.history.append("● " + turn.reply)
        if self.failure:
            self._write("StopFailure", prompt_id=turn.pid, error=self.failure,
                        last_assistant_message="API Error: " + self.failure)
            self.failure = ""
        else:
            self._write("Stop", prompt_id=turn.pid, last_assistant_message=turn.reply)
        self.running = None
        if self.queue:
            texts, self.queue = self.queue, []
            if self.release >= 332:
                self.running = SimTurn(self._pid(), texts)  # no submit event at take-up
            else:
                pid = ""
                for t in texts:  # each fires at take-up, the turn carries the last id
                    pid = self._pid()
                    self._write("UserPromptSubmit", prompt=t, prompt_id=pid)
                self.running = SimTurn(pid, texts)
        self._draw()

    def answer_question(self) -> None:
        if self.question and self.running is not None:
            self.in_tool = True
        self.question = False
        self._draw()

    def die(self) -> None:
        self.dead = True

    # ------------------------------------------------------------------ the screen
    def lines(self) -> tuple[str, ...]:
        top = ["Claude Code (simulated)", "", *self.history[-12:], ""]
        if self.question:
            return (*top, RULE, " Bash command", "   rm -rf build", " Do you want to proceed?",
                    " ❯ 1. Yes", "   2. No", "", " Esc to cancel")
        busy = self.running is not None
        spinner = ["✢ Working… (3s · ↓ 2 tokens)", ""] if busy else []
        queued = [f"  ❯ {q.split(chr(10), 1)[0]}" for q in self.queue]
        shown = unicodedata.normalize("NFC", self.box).split("\n")  # Claude composes input
        if self.box.count("\n") >= 3:
            shown = [f"[Pasted text #1 +{self.box.count(chr(10))} lines]"]
        if not self.box and self.queue:
            shown = ["Press up to edit queued messages"]
        box = [f"❯ {shown[0]}", *(f"  {s}" for s in shown[1:])]
        footer = "  ⏵⏵ bypass permissions on" + (" · esc to interrupt" if busy else "")
        return (*top, *spinner, *queued, RULE, *box, RULE, footer)

    def frame(self, history_from: int | None = None, people: bool = False) -> Frame:
        idle = None if self.person_typed_at is None or not people else (
            self.now - self.person_typed_at)
        return Frame(self.lines(), self.drawn_at, 0, history_from is not None, person_idle=idle)

    def reply_for(self, text: str) -> str | None:
        """The reply of the turn that processed `text` (None: no turn did)."""
        for turn in self.finished:
            if text.rstrip() in turn.texts:
                return turn.reply
        return None


# ----------------------------------------------------------------------------- the seam
class SimPane:
    """The simulated Claude's pane as the driver sees it (turn.live.Pane)."""

    def __init__(self, world: SimClaude) -> None:
        self.world = world
        self.keys: list[str] = []  # every key pressed but C-u (clearing the box)

    def status(self) -> PaneStatus:
        dead = self.world.dead
        return PaneStatus(server=True, session=True, dead=dead, exit_status=1 if dead else None)

    def capture(self, *, history: int | None = 0) -> list[str]:
        return list(self.world.lines())

    def person_idle(self) -> float | None:
        typed = self.world.person_typed_at
        return None if typed is None else self.world.now - typed

    def press(self, *keys: str) -> None:
        for key in keys:
            if key == "C-u":
                self.world.clear()
                continue
            self.keys.append(key)
            if key == "Enter":
                self.world.enter()

    def paste(self, text: str, *, then_enter: bool = False) -> None:
        self.world.paste(text)
        if then_enter:
            self.press("Enter")


class SimWatch:
    """Waiting (turn.live.Watch): the wait is handed to `wake`, which says what happened
    meanwhile; a person attaching is told as tmux tells it (a client came)."""

    def __init__(self, world: SimClaude, wake: Callable[[float], Activity]) -> None:
        self.world = world
        self.wake = wake
        self.people_maybe = True

    @property
    def last_output(self) -> float:
        return self.world.drawn_at

    def wait(self, timeout: float) -> Activity:
        activity = self.wake(timeout)
        if self.world.person_typed_at is not None and not self.people_maybe:
            activity.clients = True
            self.people_maybe = True
        return activity


class SimReporter(QuietReporter):
    """Records the notes and every status (with the run's activity) the driver reports."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[tuple[str, RunActivity]] = []

    def waiting(self, what: str, activity: RunActivity = RunActivity.WORKING) -> None:
        self.statuses.append((what, activity))


class SimLive:
    """The simulated Claude behind the driver's seam (turn.live.Live)."""

    attach_command = "tmux -L sim attach -t sim"

    def __init__(self, world: SimClaude, ledger: Ledger,
                 wake: Callable[[float], Activity]) -> None:
        self.world = world
        self.runtime = SimPane(world)
        self.watcher = SimWatch(world, wake)
        self.reporter = SimReporter()
        self.ledger = ledger
        self.deadline: float | None = None

    def read_events(self) -> list[HookEvent]:
        return self.world.read()

    def events_mark(self) -> int:
        return self.world.pos

    def adopt_ledger(self, ledger: Ledger) -> None:
        self.ledger = ledger
