"""The shipped turn driver (`turn.driver.drive` is `TurnDriver(...).run()`) on the simulated
Claude, one move of the world at a time, so a test can tell a turn's story and check it
between moves, and hypothesis can choose the moves.

The driver runs in a thread of its own, strictly in turn with the test (never both at once, so
every run is deterministic): whenever the driver sleeps (`Watch.wait`) the test goes on, and the
test's next move (hook events read, a redraw, time passing, a death) ends that sleep. A wait
with nothing left to wait for (a wake-up already due) returns at once, as a real one does.
"""

from __future__ import annotations

import threading
import weakref

from claude_orchestrator.agents import ClaudeAgent, Kind
from claude_orchestrator.agents.base import Agent
from claude_orchestrator.runtime.hooks import HookEvent
from claude_orchestrator.runtime.watch import Activity
from claude_orchestrator.turn.driver import TurnDriver
from claude_orchestrator.turn.events import TurnEnd
from claude_orchestrator.turn.ledger import Ledger
from claude_orchestrator.turn.machine import TurnSpec, TurnState
from tests.unit.sim_claude import SimClaude, SimLive

SPIN_LIMIT = 100  # waits in a row with a wake-up already due: the driver would spin


def spec_for(text: str, *, kind: Kind = Kind.PROMPT, profile: Agent | None = None,
             idle_timeout: float = 60.0, **extra: object) -> TurnSpec:
    return TurnSpec(message=text, text=text, kind=kind, profile=profile or ClaudeAgent(),
                    idle_timeout=idle_timeout, stable_window=0.3, **extra)  # type: ignore[arg-type]


class _Closed(BaseException):
    """Ends a driver whose test is over (the turn never finished)."""


class Harness:
    """One turn of the shipped driver on one simulated Claude."""

    def __init__(self, world: SimClaude, spec: TurnSpec, ledger: Ledger | None = None) -> None:
        self.world = world
        self.spec = spec
        self.live = SimLive(world, ledger or Ledger(), self._sleep)
        self.driver = TurnDriver(self.live, spec, clock=lambda: world.now)
        self.end: TurnEnd | None = None
        self.error: BaseException | None = None
        self.waits: list[float] = []  # the timeout of every wait the driver began
        self._spins = 0
        self._next = Activity()
        self._to_driver = threading.Semaphore(0)
        self._to_test = threading.Semaphore(0)
        self._stopped = False  # the driver's thread ended
        self._closing = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        _open.add(self)
        self._thread.start()
        self._to_test.acquire()
        self._raise()

    # ------------------------------------------------------------------ what tests read
    @property
    def state(self) -> TurnState:
        return self.driver.state

    @property
    def done(self) -> bool:
        return self.end is not None

    @property
    def keys(self) -> list[str]:
        return self.live.runtime.keys

    @property
    def notes(self) -> list[str]:
        """The notes the person got, without the "answer it in tmux" tail some carry."""
        tail = f" (answer it in tmux: {self.live.attach_command})"
        return [n.removesuffix(tail) for n in self.live.reporter.notes]

    # ------------------------------------------------------------------ what the world does
    def hooks(self) -> None:
        """The hook record is read (whatever Claude wrote to it by now)."""
        self._wake(Activity(hook=True))

    def feed(self, event: HookEvent) -> None:
        """A hook event of the test's own making is written, and read."""
        self.world.written.append(event)
        self.hooks()

    def drew(self) -> None:
        self._wake(Activity(output=True))

    def advance(self, dt: float) -> None:
        """Time passes: the driver's sleep ends `dt` later (on time, or late)."""
        self.world.now += dt
        self._wake(Activity())

    def die(self) -> None:
        self.world.die()
        self._wake(Activity(pane_died=True))

    def run_out(self, limit: int = 400) -> TurnEnd:
        """Let the world finish everything (questions answered, turns ended, hooks read, time
        passing) until the driver finishes; fails when it never does."""
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

    def close(self) -> None:
        """End a driver still waiting (its turn never finished)."""
        if not self._stopped:
            self._closing = True
            self._to_driver.release()
            self._thread.join()

    # ------------------------------------------------------------------ the hand-over
    def _run(self) -> None:
        try:
            self.end = self.driver.run()
        except _Closed:
            pass
        except BaseException as err:  # handed to the test's thread
            self.error = err
        finally:
            self._stopped = True
            self._to_test.release()

    def _sleep(self, timeout: float) -> Activity:
        """The driver's wait (in the driver's thread): the test moves, then it wakes."""
        self.waits.append(timeout)
        if timeout <= 0:
            self._spins += 1
            if self._spins > SPIN_LIMIT:
                raise AssertionError(f"the driver spins: {SPIN_LIMIT} waits with nothing to "
                                     f"wait for (phase {self.state.phase})")
            return Activity()
        self._spins = 0
        self._to_test.release()
        self._to_driver.acquire()
        if self._closing:
            raise _Closed
        activity, self._next = self._next, Activity()
        return activity

    def _wake(self, activity: Activity) -> None:
        if self._stopped:
            return
        self._next = activity
        self._to_driver.release()
        self._to_test.acquire()
        self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            err, self.error = self.error, None
            raise err


_open: weakref.WeakSet[Harness] = weakref.WeakSet()


def close_all() -> None:
    """End every driver still waiting (tests/unit/conftest.py, after each test)."""
    for h in list(_open):
        h.close()
