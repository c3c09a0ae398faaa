"""The turn machine over random orders of events, against the simulated Claude of both supported
releases: hook events late or early, a previous turn still running (its Stop late), queued
messages confirmed early (2.1.332) or late (2.1.197), an earlier identical prompt, a person
typing at the pane, lost Enters and pastes, a garbled copy, a question open, API failures, pane
deaths, slow clocks.

Invariants: the message is received at most once (exactly as sent); never pasted while a
question is open; at most one second delivery; the reply returned is the reply of the turn that
processed this message; a message reported undelivered never reached Claude; every turn ends.

Two explorers share the scenario and its checks: hypothesis's stateful testing (shrinks a
failure to its shortest story) and a seeded random walk (many more, evenly mixed orders). Both
run the shipped driver (turn/driver.py) over the simulated Claude's seam (drive_sim.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from claude_orchestrator.turn.events import TurnEnd
from claude_orchestrator.turn.ledger import Ledger
from tests.unit.drive_sim import Harness, spec_for
from tests.unit.sim_claude import SimClaude, SimTurn

TEXTS = [
    "please fix the failing test",
    "continue",
    "line one\nline two\n\tindented with a tab\nline four",
    "e\u0301tude cafe\u0301 (decomposed)",
    " /explain the parser",
]
UNDELIVERABLE = ("does not take the message", "different text twice", "did not arrive",
                 "question nobody answered")
DELAYS = [0.01, 0.05, 0.2, 0.35, 1.0, 2.5, 11.0]
ATTACH_IDLE = 3.0


@dataclass(frozen=True)
class Setup:
    release: int = 332
    swallow: int = 0
    garble: bool = False
    question: bool = False
    busy: bool = False
    earlier_identical: bool = False
    text: str = TEXTS[0]
    failure: str = ""
    lose_pastes: int = 0


setups = st.builds(
    Setup, release=st.sampled_from([197, 332]), swallow=st.integers(0, 9),
    garble=st.booleans(), question=st.booleans(), busy=st.booleans(),
    earlier_identical=st.booleans(), text=st.sampled_from(TEXTS),
    failure=st.sampled_from(["", "", "rate_limit", "server_error"]),
    lose_pastes=st.integers(0, 2))


class Scenario:
    """One message's turn on one simulated Claude, and what must hold for it."""

    def __init__(self, setup: Setup) -> None:
        world = SimClaude(release=setup.release)
        ledger = Ledger()
        if setup.earlier_identical:  # the same words were sent before and answered
            world.submit(setup.text)
            world.finish_turn()
        if setup.busy:  # a turn still runs (a person's, or one given up on)
            world.start_earlier_turn("an earlier message")
        for ev in world.read():  # the session read these between turns
            ledger = ledger.apply(ev.name, ev.payload)
        world.swallow, world.garble_first, world.question = (setup.swallow, setup.garble,
                                                             setup.question)
        world.failure, world.lose_pastes = setup.failure, setup.lose_pastes
        world.now = world.drawn_at = 1.0
        self.text = setup.text
        self.earlier: list[SimTurn] = list(world.finished)
        self.world = world
        self.h = Harness(world, spec_for(setup.text, attach_idle=ATTACH_IDLE), ledger)
        self.people = 0

    # ------------------------------------------------------------------ what happens
    def time_passes(self, dt: float) -> None:
        self.h.advance(dt)

    def hooks_are_read(self) -> None:
        self.h.hooks()

    def screen_draws(self) -> None:
        self.h.drew()

    def a_turn_ends(self) -> None:
        self.world.finish_turn()

    def someone_answers_the_question(self) -> None:
        self.world.answer_question()

    def a_person_submits_at_the_pane(self) -> None:
        w = self.world
        if not w.box and not w.question and not w.dead and self.people < 2:
            self.people += 1
            w.submit("a person's own message")

    def the_pane_dies(self) -> None:
        if not self.world.dead:
            self.h.die()

    def a_person_types_at_the_pane(self) -> None:
        self.world.person_typed_at = self.world.now

    # ------------------------------------------------------------------ what must hold
    def check(self) -> None:
        w = self.world
        assert len(w.pasted) <= 2, w.pasted
        assert not any(question for _, question in w.pasted), "pasted into a question"
        assert all(idle >= ATTACH_IDLE for idle in w.typing_when_pasted), \
            "pasted while a person typed at the pane"
        exact = self.text.rstrip()
        copies = sum(t.texts.count(exact) for t in self._turns())
        assert copies + w.queue.count(exact) <= 1, ("received twice", self._turns(), w.queue)
        if self.h.end is not None:
            self._check_end(self.h.end)

    def _turns(self) -> list[SimTurn]:
        w = self.world
        return [t for t in [*w.finished, *([w.running] if w.running else [])]
                if t not in self.earlier]

    def _check_end(self, end: TurnEnd) -> None:
        exact = self.text.rstrip()
        if end.outcome == "ended" and end.ended_by in ("hook", "api-error"):
            ours = [t for t in self.world.finished if exact in t.texts and t not in self.earlier]
            assert ours, f"a reply ({end.reply!r}) though no turn with our message ended"
            if end.ended_by == "hook":
                assert end.reply == ours[0].reply, (end.reply, ours[0].reply)
            assert end.received is not None
        if end.outcome == "lost" and not end.delivered:
            assert not [t for t in self._turns() if exact in t.texts], \
                "reported undelivered, but Claude took it"
        if end.outcome == "undeliverable":
            assert any(why in end.error for why in UNDELIVERABLE), end.error

    def finish(self) -> None:
        """Every turn ends: let the world finish what it started, then check the end."""
        try:
            if not self.world.dead:
                self.h.run_out()
            self.check()
        finally:
            self.h.close()

    STEPS = ("hooks_are_read", "screen_draws", "a_turn_ends", "someone_answers_the_question",
             "a_person_submits_at_the_pane", "a_person_types_at_the_pane", "the_pane_dies")


class TurnAgainstSimulatedClaude(RuleBasedStateMachine):
    s: Scenario

    @initialize(setup=setups)
    def start(self, setup: Setup) -> None:
        self.s = Scenario(setup)

    @rule(dt=st.sampled_from(DELAYS))
    def time_passes(self, dt: float) -> None:
        self.s.time_passes(dt)

    @rule()
    def hooks_are_read(self) -> None:
        self.s.hooks_are_read()

    @rule()
    def screen_draws(self) -> None:
        self.s.screen_draws()

    @rule()
    def a_turn_ends(self) -> None:
        self.s.a_turn_ends()

    @rule()
    def someone_answers_the_question(self) -> None:
        self.s.someone_answers_the_question()

    @rule()
    def a_person_submits_at_the_pane(self) -> None:
        self.s.a_person_submits_at_the_pane()

    @rule()
    def the_pane_dies(self) -> None:
        self.s.the_pane_dies()

    @rule()
    def a_person_types_at_the_pane(self) -> None:
        self.s.a_person_types_at_the_pane()

    @invariant()
    def holds(self) -> None:
        self.s.check()

    def teardown(self) -> None:
        if hasattr(self, "s"):
            self.s.finish()


TurnAgainstSimulatedClaude.TestCase.settings = settings(
    max_examples=300, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
test_turn_against_simulated_claude = TurnAgainstSimulatedClaude.TestCase


@settings(max_examples=600, deadline=None)
@given(setup=setups, seed=st.integers(0, 2**32 - 1))
def test_turn_random_walk(setup: Setup, seed: int) -> None:
    """The same scenario and checks, the events in an evenly mixed random order."""
    rng = random.Random(seed)
    s = Scenario(setup)
    deaths = rng.random() < 0.3
    try:
        for _ in range(rng.randint(1, 60)):
            if s.h.done:
                break
            if rng.random() < 0.35:
                s.time_passes(rng.choice(DELAYS))
            else:
                name = rng.choice([n for n in Scenario.STEPS if deaths or n != "the_pane_dies"])
                getattr(s, name)()
            s.check()
        s.finish()
    finally:
        s.h.close()
