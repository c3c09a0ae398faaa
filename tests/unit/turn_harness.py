"""Runs the pure turn machine against the simulated Claude (sim_claude.py): performs its actions
on the model and feeds back what happened, the way the real driver does on tmux."""

from __future__ import annotations

from collections import deque

from claude_orchestrator.agents import ClaudeAgent, Kind
from claude_orchestrator.agents.base import Agent
from claude_orchestrator.turn.events import (
    Action,
    Capture,
    ClearInput,
    Died,
    Drew,
    Event,
    Finish,
    Paste,
    Pasted,
    Press,
    Tell,
    Tick,
    TurnEnd,
)
from claude_orchestrator.turn.ledger import Ledger
from claude_orchestrator.turn.machine import TurnSpec, TurnState, begin, step
from tests.unit.sim_claude import SimClaude


def spec_for(text: str, *, kind: Kind = Kind.PROMPT, profile: Agent | None = None,
             idle_timeout: float = 60.0, **extra: object) -> TurnSpec:
    return TurnSpec(message=text, text=text, kind=kind, profile=profile or ClaudeAgent(),
                    idle_timeout=idle_timeout, stable_window=0.3, **extra)  # type: ignore[arg-type]


class Harness:
    """One turn of the machine on one simulated Claude."""

    def __init__(self, world: SimClaude, spec: TurnSpec, ledger: Ledger | None = None) -> None:
        self.world = world
        self.spec = spec
        self.notes: list[str] = []
        self.keys: list[str] = []
        self.end: TurnEnd | None = None
        self.steps = 0
        state, actions = begin(spec, ledger or Ledger(), world.now, world.drawn_at)
        self.state: TurnState = state
        self._run(actions)

    @property
    def done(self) -> bool:
        return self.end is not None

    def feed(self, event: Event) -> None:
        if self.done:
            return
        self.state, actions = step(self.state, event, self.world.now)
        self.steps += 1
        self._run(actions)

    def _run(self, actions: list[Action]) -> None:
        queue: deque[Action] = deque(actions)
        while queue and not self.done:
            event = self._perform(queue.popleft())
            if event is not None:
                self.state, more = step(self.state, event, self.world.now)
                self.steps += 1
                queue.extend(more)

    def _perform(self, action: Action) -> Event | None:
        w = self.world
        if isinstance(action, Finish):
            self.end = action.end
        elif isinstance(action, Capture):
            if w.dead:
                return self._death()
            return w.frame(action.history_from, people=action.people)
        elif isinstance(action, ClearInput):
            w.clear()
        elif isinstance(action, Paste):
            return Pasted(w.paste(action.text))
        elif isinstance(action, Press):
            self.keys.append(action.key)
            if action.key == "Enter":
                w.enter()
        elif isinstance(action, Tell):
            self.notes.append(action.message)
        return None

    def _death(self) -> Event:
        # As the driver does: what the hooks wrote before the death is read first.
        for ev in self.world.read():
            self.feed(ev)
        return Died("the agent exited with status 1")

    # ------------------------------------------------------------------ what the world does
    def hooks(self) -> None:
        for ev in self.world.read():
            self.feed(ev)

    def drew(self) -> None:
        self.feed(Drew(self.world.drawn_at))

    def advance(self, dt: float) -> None:
        self.world.now += dt
        wake = self.state.wake_at
        if wake is not None and wake <= self.world.now:
            self.feed(Tick())

    def die(self) -> None:
        self.world.die()
        if not self.done:
            self.feed(self._death())

    def run_out(self, limit: int = 400) -> TurnEnd:
        """Let the world finish everything (questions answered, turns ended, hooks read, time
        passing) until the machine finishes; fails when it never does."""
        for _ in range(limit):
            if self.done:
                break
            self.world.answer_question()
            self.hooks()
            self.drew()
            self.advance(0.5)
            self.hooks()
            self.world.finish_turn()
            self.hooks()
            self.advance(0.5)
        assert self.end is not None, f"the turn never ended: {self.state.phase}"
        return self.end
