"""The turn machine, branch by branch, without tmux: each test tells one story of a turn against
the simulated Claude (sim_claude.py) or hand-made screens, and checks what the machine did."""

from __future__ import annotations

import copy
import dataclasses
from typing import get_args

import pytest

from claude_orchestrator.agents import Agent, ClaudeAgent, Kind
from claude_orchestrator.errors import TurnMachineError
from claude_orchestrator.progress import Activity
from claude_orchestrator.runtime.hooks import HookEvent
from claude_orchestrator.turn.events import (
    Action,
    Capture,
    ClearInput,
    Died,
    Drew,
    Event,
    Finish,
    Frame,
    Paste,
    Pasted,
    Press,
    Status,
    Tell,
    Tick,
    TurnEnd,
    TurnOutcome,
)
from claude_orchestrator.turn.ledger import Entry, Ledger, Waiting
from claude_orchestrator.turn.machine import Phase, Timing, resumed, step
from claude_orchestrator.turn.result import EndedBy
from tests.unit.drive_sim import Harness, spec_for
from tests.unit.sim_claude import SimClaude


def ev(pos: int, name: str, **payload: object) -> HookEvent:
    return HookEvent(pos, name, {"hook_event_name": name, **payload})


def world(**kw: object) -> SimClaude:
    w = SimClaude(**kw)  # type: ignore[arg-type]
    w.now = w.drawn_at = 1.0
    return w


def submit_and_answer(h: Harness) -> None:
    """Enter once the paste shows, the submit event read, the turn ended and its Stop read."""
    h.drew()
    h.hooks()
    h.world.finish_turn()
    h.hooks()


# ----------------------------------------------------------------------------- the ledger
def test_ledger_2_1_197_prompt_then_its_stop() -> None:
    led, ahead = Ledger().submitted("p1")
    assert ahead == frozenset() and [e.prompt_id for e in led.open] == ["p1"]
    led, closed = led.close("p1")
    assert closed == 1 and led.open == () and led.known == {"p1"}


def test_ledger_2_1_332_queued_message_waits_for_the_busy_turn_and_its_successor() -> None:
    led, _ = Ledger().submitted("p1")
    led, ahead = led.submitted("p1")  # queued: it carries the busy turn's id
    assert ahead == {1} and led.open == (Entry(1, "p1", queued_behind=1),)
    led, closed = led.close("p1")
    assert closed == 1 and led.open == (Entry(2, None),)  # the queued ones, as one new turn
    ours, left = Waiting(ahead).ends_ours(closed)
    assert not ours and left.ahead == frozenset()
    led, closed = led.close("p9")  # the new turn's id, never announced
    assert closed == 2 and led.open == ()
    assert Waiting(frozenset()).ends_ours(closed) == (True, Waiting(frozenset()))


def test_ledger_queued_behind_a_turn_whose_id_is_not_known_yet() -> None:
    led = Ledger(open=(Entry(3, None),), serial=3)
    led, ahead = led.submitted("p7")  # 2.1.332: carries the id of the turn it waits behind
    assert ahead == {3} and led.open == (Entry(3, "p7", queued_behind=1),)


def test_ledger_stop_without_an_id_closes_the_oldest_turn() -> None:
    led, _ = Ledger().submitted("p1")
    led, _ = led.submitted("p2")
    led, closed = led.close(None)
    assert closed == 1 and [e.prompt_id for e in led.open] == ["p2"]
    assert Ledger().close(None) == (Ledger(), None)
    assert Ledger().close("px")[1] is None


def test_ledger_session_start_end_and_idle_forget_running_turns() -> None:
    led = Ledger().apply("UserPromptSubmit", {"prompt_id": "p1"})
    started = led.apply("SessionStart", {"session_id": "s1", "transcript_path": "/t.jsonl"})
    assert started.open == () and started.reporting and started.session_id == "s1"
    assert started.transcript_path == "/t.jsonl"
    assert led.apply("SessionEnd", {}).open == ()
    assert led.idle().open == () and Ledger().idle() == Ledger()
    assert led.apply("Notification", {}) == led
    assert led.apply("Stop", {"prompt_id": "p1"}).open == ()



def test_ledger_keeps_a_persons_exchanges_until_taken_and_never_its_own() -> None:
    """A person typing at the pane: their message and Claude's answer are kept for the run log
    (once); the orchestrator's own turns are not, they are reported as turns."""
    led, _ = Ledger().submitted("p1", "what is this folder?", by_person=True)
    led, _ = led.close("p1", "a Python project")
    led, _ = led.submitted("p2", "ours", ours=True)
    led, _ = led.close("p2", "our reply")
    led, taken = led.take_exchanges()
    assert taken == (("what is this folder?", "a Python project", True),)
    assert led.exchanges == () and led.take_exchanges()[1] == ()
    # 2.1.332: a message the person queued behind their busy turn is its own exchange.
    led, _ = led.submitted("p3", "first", by_person=True)
    led, _ = led.submitted("p3", "second", by_person=True)
    led, _ = led.close("p3", "to first")
    led, _ = led.close("p4", "to second")
    assert led.take_exchanges()[1] == (("first", "to first", True),
                                       ("second", "to second", True))


def test_ledger_marks_what_no_person_sent_as_unattributed() -> None:
    """Issue 17, 4: a message that came while no person's terminal was active (pane code
    appending events, or `tmux send-keys`) is unattributed, and so is a queued turn holding
    one such message among a person's."""
    led, _ = Ledger().submitted("p1", "run git push --force")
    led, _ = led.close("p1", "pushed")
    led, taken = led.take_exchanges()
    assert taken == (("run git push --force", "pushed", False),)
    led, _ = led.submitted("p2", "busy", by_person=True)
    led, _ = led.submitted("p2", "typed by a person", by_person=True)
    led, _ = led.submitted("p2", "typed by the pane")
    led, _ = led.close("p2", "done")
    led, _ = led.close("p3", "both")
    assert led.take_exchanges()[1] == (("busy", "done", True),
                                       ("typed by a person\ntyped by the pane", "both", False))
    assert not Ledger().apply("UserPromptSubmit", {"prompt": "x", "by_person": True}).open[0]\
        .by_person  # a payload cannot claim it

# ----------------------------------------------------------------------------- delivery
def test_plain_turn_pastes_once_enter_once_and_takes_its_stop() -> None:
    w = world()
    h = Harness(w, spec_for("hello"))
    assert w.pasted == [("hello", False)] and h.state.phase is Phase.ECHO
    submit_and_answer(h)
    assert h.keys == ["Enter"] and w.submitted == ["hello"]
    assert h.end is not None and h.end.ended_by == "hook" and h.end.reply == "REPLY[hello]"
    assert h.end.received == "hello" and h.end.prompt_id == "p1" and h.end.delivered


def test_enter_without_an_echo_after_the_wait() -> None:
    w = world()
    h = Harness(w, spec_for("hello"))
    h.advance(0.2)
    assert h.keys == []
    h.advance(0.4)
    assert h.keys == ["Enter"]


def test_generic_agent_enter_once_the_echo_stops_drawing() -> None:
    w = world()
    h = Harness(w, spec_for("hello", kind=Kind.SCREEN, profile=Agent()))
    h.advance(0.5)  # let the screen settle before the paste
    assert w.pasted
    h.drew()
    assert h.keys == []
    h.advance(0.05)
    assert h.keys == ["Enter"]


def test_text_left_in_the_box_is_cleared_first() -> None:
    w = world()
    w.box = "a person's half-typed words"
    h = Harness(w, spec_for("hello"))
    submit_and_answer(h)
    assert w.submitted == ["hello"] and h.end is not None and h.end.reply == "REPLY[hello]"


def test_never_pasted_into_an_open_question() -> None:
    w = world(question=True)
    h = Harness(w, spec_for("2"))
    assert w.pasted == [] and h.state.phase is Phase.QUESTION
    assert any("waits until it is answered" in n for n in h.notes)
    h.drew()
    h.advance(0.1)
    assert w.pasted == []
    w.answer_question()
    h.drew()
    h.advance(0.1)
    assert w.pasted == [("2", False)]


def test_a_question_nobody_answers_makes_the_message_undeliverable() -> None:
    w = world(question=True)
    h = Harness(w, spec_for("2", idle_timeout=10))
    h.advance(11)
    assert h.end is not None and h.end.outcome == "undeliverable"
    assert "nobody answered" in h.end.error and w.pasted == []


def _asking_world(release: int = 197) -> tuple[SimClaude, Ledger]:
    """Turn 1 (given up on) waits on a permission question; the hooks report."""
    w = world(release=release)
    w.start_earlier_turn("please write hi into out.txt")
    w.question = True
    ledger = Ledger(reporting=True)
    for e in w.read():
        ledger = ledger.apply(e.name, e.payload)
    return w, ledger


@pytest.mark.parametrize("release", [197, 332])
def test_after_the_question_the_message_waits_for_the_turn_that_asked(release: int) -> None:
    """Issue 16 §2: once a person answers, the asking turn goes on with its tool; a message
    pasted then would be folded into it (2.1.197). It waits for that turn's Stop, then gets
    a turn and a reply of its own; turn 1's Stop never ends it."""
    w, ledger = _asking_world(release)
    h = Harness(w, spec_for("2"), ledger)
    assert h.state.phase is Phase.QUESTION and w.pasted == []
    h.advance(1.0)
    w.answer_question()
    h.drew()
    h.advance(0.1)
    h.advance(2.5)  # the asking turn works on: looked at again, still waited for
    assert w.pasted == [] and h.state.phase is Phase.QUESTION
    assert h.state.asker_busy_at is not None
    w.finish_turn()
    h.hooks()  # its Stop: the message goes at once
    assert w.pasted == [("2", False)]
    end = h.run_out()
    assert end.ended_by == "hook" and end.reply == "REPLY[2]" and end.received == "2"
    assert w.submitted == ["please write hi into out.txt", "2"]


def test_a_message_shown_but_never_submitted_is_delivered_once_more() -> None:
    """2.1.197 folds a message typed while a tool runs into that turn: shown on screen, no
    UserPromptSubmit. With hooks that report, that is not taken: the turn it was folded into
    does not give this message its reply; it is delivered again once that turn ended."""
    w, ledger = _asking_world()
    w.answer_question()  # before the message: the asking turn is in its tool
    h = Harness(w, spec_for("2", timing=Timing(no_submit_grace=2.0)), ledger)
    assert w.pasted == [("2", False)]  # no question was seen by this turn: pasted at once
    h.drew()
    h.advance(0.5)
    w.finish_turn()  # turn 1's Stop (its reply answers both texts)
    h.hooks()
    assert not h.done
    end = h.run_out()
    assert any("never submitted it; it is delivered once more" in n for n in h.notes)
    assert end.reply == "REPLY[2]" and len(w.pasted) == 2 and end.ended_by == "hook"
    assert w.reply_for("2") == "REPLY[please write hi into out.txt + 2]"  # the fold, first


def test_screen_path_waits_for_a_busy_screen_to_settle() -> None:
    w = world()
    w.start_earlier_turn("still drawing")
    w.read()
    h = Harness(w, spec_for("next", kind=Kind.SCREEN))
    assert w.pasted == []
    h.advance(0.2)
    assert w.pasted == []
    w.finish_turn()
    h.drew()
    h.advance(0.2)
    assert w.pasted == [("next", False)]


def test_swallowed_enters_are_pressed_again_text_never_typed_again() -> None:
    w = world(swallow=2)
    h = Harness(w, spec_for("hello"))
    h.drew()
    for _ in range(5):
        h.advance(1.0)
    assert h.keys == ["Enter", "Enter", "Enter"] and w.submitted == ["hello"]
    assert len(w.pasted) == 1


def test_enter_never_taken_is_undeliverable_after_the_limit() -> None:
    w = world(swallow=100)
    h = Harness(w, spec_for("hello", timing=Timing(max_enters=2)))
    h.drew()
    for _ in range(40):
        h.advance(1.0)
    assert h.end is not None and h.end.outcome == "undeliverable"
    assert "stays in its input box" in h.end.error
    assert h.keys == ["Enter"] * 4  # two more while Claude sat idle with our text
    assert len(w.pasted) == 1


def test_someone_elses_prompt_is_not_ours() -> None:
    w = world()
    h = Harness(w, spec_for("hello"))
    w.submit("a person's own message")  # submitted before ours: ours is queued behind it
    h.drew()
    h.hooks()
    assert h.state.phase is Phase.WORK and h.state.received == "hello"
    w.finish_turn()  # the person's turn ends: its Stop is not ours
    h.hooks()
    assert h.end is None
    h.run_out()
    assert h.end is not None and h.end.reply == "REPLY[hello]"


def test_a_garbled_copy_is_delivered_once_more_after_its_turn() -> None:
    w = world(garble_first=True)
    h = Harness(w, spec_for("please do it"))
    submit_and_answer(h)
    assert any("garbled" in n for n in h.notes) and len(w.pasted) == 2
    end = h.run_out()
    assert end.reply == "REPLY[please do it]" and w.submitted == ["please do it"] * 2


def test_a_second_garbled_copy_stops_with_both_texts() -> None:
    w = world(garble_first=True)
    h = Harness(w, spec_for("please do it"))
    submit_and_answer(h)
    w._garbled = False  # garble the second one too
    end = h.run_out()
    assert end.outcome == "undeliverable" and "different text twice" in end.error
    assert "please do it" in end.error and "please do ix" in end.error


def test_a_lost_paste_is_delivered_once_more_then_given_up() -> None:
    w = world(lose_pastes=1)
    h = Harness(w, spec_for("hello"))
    end = h.run_out()
    assert end.reply == "REPLY[hello]" and len(w.pasted) == 2
    assert any("did not arrive" in n for n in h.notes)
    w2 = world(lose_pastes=2)
    end2 = Harness(w2, spec_for("hello")).run_out()
    assert end2.outcome == "undeliverable" and "did not arrive, twice" in end2.error


def test_a_report_written_before_a_frame_is_read_before_it_is_judged() -> None:
    """Answered, the screen idle and the echo scrolled away, the report written but not read
    yet: the hook record is read before the frame is judged, so nothing is pasted again."""
    w = world()
    h = Harness(w, spec_for("hello", timing=Timing(no_submit_grace=0.5)))
    h.drew()
    w.finish_turn()
    w.history.clear()
    h.advance(1.0)
    h.run_out()
    assert w.submitted == ["hello"] and len(w.pasted) == 1 and h.keys == ["Enter"]
    assert h.end is not None and h.end.reply == "REPLY[hello]"


def test_a_late_report_of_the_first_delivery_is_never_sent_again() -> None:
    w = world()
    h = Harness(w, spec_for("hello", timing=Timing(no_submit_grace=0.5)))
    h.drew()
    w.finish_turn()  # answered, but its report is written only later (a slow hook)
    late = w.read()
    w.history.clear()  # and the echo has scrolled away
    h.advance(1.0)
    assert h.state.phase is Phase.ECHO and len(w.pasted) == 2  # pasted once more...
    for ev in late:  # ... when the report of the first comes in: Enter is not pressed again
        h.feed(ev)
    assert h.state.phase in (Phase.WORK, Phase.DONE)
    h.run_out()
    assert w.submitted == ["hello"] and h.keys == ["Enter"]
    assert h.end is not None and h.end.reply == "REPLY[hello]"


def test_silent_hooks_with_the_message_on_screen_hand_over_to_the_screen() -> None:
    w = world(hooks=False)
    h = Harness(w, spec_for("hello", timing=Timing(no_submit_grace=0.5)))
    h.drew()
    w.finish_turn()
    w.read()  # the hooks never report
    for _ in range(10):
        h.advance(1.0)
    assert any("hooks did not report" in n for n in h.notes)
    assert h.end is not None and h.end.ended_by == "screen" and "REPLY[hello]" in h.end.reply


# ----------------------------------------------------------------------------- the end
def test_api_failure_ends_the_turn_with_its_kind() -> None:
    w = world(failure="rate_limit")
    h = Harness(w, spec_for("hello"))
    submit_and_answer(h)
    assert h.end is not None and h.end.ended_by == "api-error" and h.end.error == "rate_limit"


def test_a_users_stop_hook_can_send_claude_back_to_work() -> None:
    w = world()
    h = Harness(w, spec_for("hello", stop_hooks_elsewhere=True))
    h.drew()
    h.hooks()
    w.finish_turn()
    w.start_earlier_turn("(the user's Stop hook sent Claude on)")
    h.hooks()
    assert h.end is None
    h.advance(1.0)  # the screen is busy: not the end
    assert h.end is None and h.state.stop is None
    w.finish_turn()
    h.hooks()
    h.advance(1.0)
    assert h.end is not None and h.end.ended_by == "hook"


def test_an_interrupted_turn_ends_by_the_screen_after_a_second_look() -> None:
    w = world()
    h = Harness(w, spec_for("hello"))
    h.drew()
    h.hooks()
    w.running = None  # Escape: the turn stops, no hook fires
    w.history.append("⎿  Interrupted by user")
    w.drawn_at = w.now
    h.drew()
    h.advance(2.1)
    assert h.end is None  # idle once: look again before believing it
    h.advance(1.1)
    assert h.end is not None and h.end.ended_by == "screen"
    assert "Interrupted" in h.end.reply


def test_idle_timeout_unless_the_screen_says_busy() -> None:
    w = world()
    h = Harness(w, spec_for("hello", idle_timeout=5))
    h.drew()
    h.hooks()
    h.advance(2.1)  # watchdog: busy
    h.advance(3.0)  # idle timeout due, but the screen says busy
    assert h.end is None and h.state.busy_at > 0
    w.question = True  # a question nobody answers
    h.advance(5.1)
    assert h.end is not None and h.end.ended_by == "idle-timeout"


def test_the_agent_dies_before_and_after_the_submission() -> None:
    w = world()
    h = Harness(w, spec_for("hello"))
    h.die()
    assert h.end is not None and h.end.outcome == "lost" and not h.end.delivered
    w2 = world()
    h2 = Harness(w2, spec_for("hello"))
    h2.drew()
    h2.hooks()
    h2.die()
    assert h2.end is not None and h2.end.outcome == "lost" and h2.end.delivered
    w3 = world()
    h3 = Harness(w3, spec_for("hello", kind=Kind.SCREEN))
    h3.advance(0.5)
    h3.drew()
    h3.advance(0.1)
    h3.die()  # no hook can tell: a pressed Enter counts as delivered (never send twice)
    assert h3.end is not None and h3.end.delivered


def test_a_death_is_judged_after_what_the_hooks_wrote_before_it() -> None:
    """Claude took the message, wrote its UserPromptSubmit, and died before the driver read
    it: the record is read first, so the message counts as delivered and is never sent again
    (the driver used to hear of the death first; the property tests found it once they ran
    the shipped driver)."""
    w = world()
    h = Harness(w, spec_for("hello"))
    h.drew()  # Enter: Claude takes it, its submit event is written, not read yet
    assert w.submitted == ["hello"] and w.written
    h.die()  # the pane's death wakes the driver
    assert h.end is not None and h.end.outcome == "lost" and h.end.delivered
    w2 = world()
    h2 = Harness(w2, spec_for("hello"))
    h2.drew()
    w2.die()  # unnoticed until the next capture finds the pane dead
    h2.advance(1.0)
    assert h2.end is not None and h2.end.outcome == "lost" and h2.end.delivered


def test_notifications_reach_the_person_during_the_turn() -> None:
    h = Harness(world(), spec_for("hello"))
    h.drew()
    h.feed(ev(10_000, "Notification", message="Claude needs your permission to use Bash"))
    h.feed(ev(10_001, "Notification", message="Claude is waiting for your input"))
    assert h.notes == ["Claude: Claude needs your permission to use Bash"]


def test_bash_mode_has_no_submit_event_its_stop_ends_it() -> None:
    w = world()
    h = Harness(w, spec_for("!ls", kind=Kind.SHELL))
    h.drew()
    h.advance(0.4)  # the box is empty: the command runs
    h.advance(0.4)
    assert h.state.phase is Phase.WORK and h.state.confirmed_at is not None
    w.read()  # (bash mode writes no submit event)
    w._write("Stop", last_assistant_message="I see the listing")  # 2.1.197: no prompt id
    h.hooks()
    assert h.end is not None and h.end.reply == "I see the listing"


def test_bash_mode_stop_before_the_screen_confirmed() -> None:
    w = world()
    h = Harness(w, spec_for("!ls", kind=Kind.SHELL))
    h.drew()
    w.read()
    w._write("Stop", prompt_id="b1", last_assistant_message="done")
    h.hooks()
    assert h.end is not None and h.end.ended_by == "hook" and h.end.confirmed_at is not None


# ----------------------------------------------------------------------------- screen path
def generic(text: str, **kw: object) -> Harness:
    w = world()
    h = Harness(w, spec_for(text, kind=Kind.SCREEN, profile=Agent(), **kw))
    h.advance(0.2)  # the screen settles, the text goes in
    h.drew()
    h.advance(0.05)  # the echo stopped drawing: Enter
    return h


def test_screen_path_end_when_still_not_busy_and_something_new() -> None:
    h = generic("do it")
    w = h.world
    assert h.keys == ["Enter"] and w.submitted == ["do it"]
    h.drew()
    h.advance(0.1)
    assert h.state.phase is Phase.WORK and h.state.by_screen
    h.advance(1.0)
    assert h.end is None  # busy
    w.finish_turn()
    h.drew()
    h.advance(0.2)
    assert h.end is None  # still drawing (the window is 0.3 s)
    h.advance(0.2)
    assert h.end is not None and h.end.ended_by == "screen"
    assert h.end.reply == "REPLY[do it]"


def test_screen_path_question_mid_turn_is_told_once_and_waited_out() -> None:
    w = world()
    h = Harness(w, spec_for("/do-it", kind=Kind.SCREEN))  # e.g. a slash command, in chat
    h.advance(0.2)
    h.drew()
    h.advance(1.1)
    h.drew()
    h.advance(0.1)
    h.world.question = True
    for _ in range(3):
        h.world.drawn_at = h.world.now
        h.drew()
        h.advance(0.4)
    assert h.notes == ["claude shows a question"] and h.end is None


def test_screen_path_silent_agent_ends_with_no_reply() -> None:
    h = generic("hello", idle_timeout=10)
    w = h.world
    w.running = None  # the agent took the text and says nothing
    w.drawn_at = w.now
    h.drew()
    h.advance(0.4)
    assert h.state.phase is Phase.WORK and h.end is None
    h.advance(2.0)  # nothing to show yet: an agent may think this long
    assert h.end is None
    h.advance(1.5)
    assert h.end is not None and h.end.ended_by == "screen" and h.end.reply == ""


def test_screen_path_unchanged_screen_ends_by_idle_timeout() -> None:
    h = generic("hello", idle_timeout=10)
    w = h.world
    h.drew()
    h.advance(0.1)
    assert h.state.phase is Phase.WORK
    w.running = None
    w.history.clear()  # the screen is back to what it was before the message
    w.drawn_at = w.now
    h.drew()
    h.advance(5.0)
    assert h.end is None
    h.advance(6.0)
    assert h.end is not None and h.end.ended_by == "idle-timeout"


def test_screen_path_text_never_shown_is_not_arrived() -> None:
    w = world(lose_pastes=2)
    h = Harness(w, spec_for("hello", kind=Kind.SCREEN, profile=Agent()))
    for _ in range(8):
        w.drawn_at = w.now  # the screen draws, but our text is not on it
        h.drew()
        h.advance(0.6)
    assert h.end is not None and h.end.outcome == "undeliverable"
    assert "did not arrive, twice" in h.end.error and len(w.pasted) == 2


def test_screen_path_text_stuck_in_the_box_is_undeliverable() -> None:
    w = world(swallow=99)
    h = Harness(w, spec_for("hello", kind=Kind.SCREEN, profile=ClaudeAgent()))
    for _ in range(80):
        h.drew()
        h.advance(0.6)
    assert h.end is not None and "stays in its input box" in h.end.error


# ----------------------------------------------------------------------------- odds and ends
def test_resumed_turn_takes_the_reply_from_events_after_its_mark_only() -> None:
    spec = spec_for("continue")
    early = [ev(10, "UserPromptSubmit", prompt="continue", prompt_id="old"),
             ev(20, "Stop", prompt_id="old", last_assistant_message="old reply")]
    led = Ledger()
    for e in early:
        led = led.apply(e.name, e.payload)
    s, acts = resumed(spec, led, 20, SimClaude().frame(), 0.0)
    assert acts == [] and s.phase is Phase.SUBMIT
    s, _ = step(s, ev(30, "UserPromptSubmit", prompt="continue", prompt_id="new"), 0.0)
    s, acts = step(s, ev(40, "Stop", prompt_id="new", last_assistant_message="new reply"), 0.0)
    assert isinstance(acts[-1], Finish) and acts[-1].end.reply == "new reply"


def test_nothing_happens_before_a_wake() -> None:
    w = world()
    h = Harness(w, spec_for("hello"))
    s = h.state
    assert s.wake_at is not None
    assert step(s, Tick(), s.wake_at - 0.01) == (s, [])


@pytest.mark.parametrize("event", [Tick(), Drew(5.0), Died("gone"), Pasted(7),
                                   SimClaude().frame(), ev(9, "Stop", prompt_id="p1")],
                         ids=lambda e: type(e).__name__)
def test_an_event_after_the_end_is_a_driver_bug(event: Event) -> None:
    """As h11 raises a protocol error: an input the machine cannot have been given is not
    silently ignored."""
    h = Harness(world(), spec_for("hello"))
    h.run_out()
    with pytest.raises(TurnMachineError, match="after the turn ended"):
        step(h.state, event, 99.0)


def test_a_paste_position_nobody_asked_for_is_a_driver_bug() -> None:
    h = Harness(world(), spec_for("hello"))
    assert h.state.phase is Phase.ECHO and h.state.mark is not None  # our paste's, known
    with pytest.raises(TurnMachineError, match="no paste asked for"):
        step(h.state, Pasted(123), 2.0)
    h.drew()
    h.hooks()
    assert h.state.phase is Phase.WORK
    with pytest.raises(TurnMachineError, match="phase work"):
        step(h.state, Pasted(123), 2.0)


def test_session_start_and_other_events_update_the_ledger() -> None:
    h = Harness(world(hooks=False), spec_for("hello"))  # (its own SessionStart comes below)
    h.feed(ev(5, "SessionStart", session_id="s9"))
    assert h.state.ledger.session_id == "s9" and h.state.ledger.reporting
    h.feed(ev(6, "UserPromptSubmit", prompt="a person's own", prompt_id="x1"))
    assert [e.prompt_id for e in h.state.ledger.open] == ["x1"]  # someone else's turn runs
    h.feed(ev(7, "PreCompact"))  # a name the machine does not act on changes nothing
    assert [e.prompt_id for e in h.state.ledger.open] == ["x1"]
    h.feed(ev(8, "SessionEnd"))  # the agent went away: no turn of it runs any more
    assert h.state.ledger.open == () and h.state.ledger.session_id == "s9"
    assert h.state.seen == ("SessionStart", "UserPromptSubmit", "PreCompact", "SessionEnd")


ACTIONS = {Capture: Capture(history_from=3), ClearInput: ClearInput(), Paste: Paste("hi"),
           Press: Press("Enter"), Tell: Tell("note", where=True), Status: Status("x"),
           Finish: Finish(TurnEnd(TurnOutcome.ENDED, EndedBy.HOOK, "r"))}
EVENTS = {HookEvent: ev(1, "Stop"), Frame: Frame(("a",), 1.0), Drew: Drew(1.0),
          Pasted: Pasted(4), Died: Died("gone"), Tick: Tick()}


@pytest.mark.parametrize("union, members", [(Action, ACTIONS), (Event, EVENTS)],
                         ids=["actions", "events"])
def test_actions_and_events_are_closed_sets_of_frozen_values(
        union: object, members: dict[type, object]) -> None:
    """What the machine hears and asks for is a closed union (the driver and the machine match
    it exhaustively), and each member an immutable value: a state that holds one cannot be
    changed behind the machine's back, and equal facts compare equal."""
    assert set(get_args(union)) == set(members)
    for cls, value in members.items():
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
        assert value == copy.deepcopy(value) and hash(value) == hash(copy.deepcopy(value))
        fields = [f.name for f in dataclasses.fields(cls) if f.compare]
        if fields:
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(value, fields[0], None)
    assert Press("Enter") != Press("Escape") and Tell("a") != Tell("a", where=True)


# ----------------------------------------------------------------------------- corners
def test_bash_mode_ignores_a_stop_written_before_its_paste() -> None:
    w = world()
    w.start_earlier_turn("an earlier message")
    h = Harness(w, spec_for("!ls", kind=Kind.SHELL))
    w.finish_turn()  # its Stop was written before our paste, read after it
    w.written = [HookEvent(0, e.name, e.payload) for e in w.written]
    h.hooks()
    assert h.end is None


def test_bash_mode_waits_while_the_command_sits_in_the_box() -> None:
    w = world(swallow=9)
    h = Harness(w, spec_for("!ls", kind=Kind.SHELL, timing=Timing(max_enters=1)))
    for _ in range(8):
        h.advance(0.6)
    assert h.state.phase is Phase.SUBMIT and h.keys == ["Enter", "Enter"]  # then it waits


def test_a_question_still_open_at_the_next_look_is_not_told_twice() -> None:
    w = world(question=True)
    h = Harness(w, spec_for("2"))
    w.now, w.drawn_at = 1.5, 1.5
    h.drew()
    h.advance(0.1)
    assert h.state.phase is Phase.QUESTION and len(h.notes) == 1


def test_a_frame_nobody_asked_for_changes_nothing() -> None:
    h = Harness(world(), spec_for("hello"))
    h.drew()
    state = h.state
    assert step(state, SimClaude().frame(), 5.0)[1] == []
    h.feed(ev(99_999, "UserPromptSubmit", prompt="hello", prompt_id="p1"))
    assert step(h.state, SimClaude().frame(), 5.0)[1] == []


def test_a_garbled_copy_whose_turn_ends_unseen_is_delivered_again_by_the_screen() -> None:
    w = world(garble_first=True)
    h = Harness(w, spec_for("please do it"))
    h.drew()
    h.hooks()
    assert h.state.phase is Phase.REDELIVER
    w.finish_turn()
    w.read()  # its Stop is lost
    w.now += 0.5
    w.drawn_at = w.now
    h.drew()
    h.advance(2.1)
    h.advance(1.1)
    assert len(w.pasted) == 2 and h.state.phase is not Phase.REDELIVER


def test_enter_never_taken_while_claude_works_is_undeliverable() -> None:
    w = world(swallow=100)
    w.start_earlier_turn("busy with something else")
    w.read()
    h = Harness(w, spec_for("hello", timing=Timing(max_enters=2, no_submit_grace=3)))
    h.drew()
    for _ in range(6):
        h.advance(1.0)
    assert h.end is None and h.keys == ["Enter", "Enter"]  # busy: no more than the limit
    w.finish_turn()
    for _ in range(40):
        h.advance(1.0)
    assert h.end is not None and "Claude does not take the message" in h.end.error


# ----------------------------------------------------------------------------- a person
def test_never_pasted_while_a_person_types_at_the_pane() -> None:
    w = world()
    w.person_typed_at = 0.9  # typed a moment ago, in their attached terminal
    h = Harness(w, spec_for("hello", attach_idle=5))
    assert w.pasted == [] and h.state.phase is Phase.PERSON
    assert h.notes == ["paused: someone is typing at the pane"]
    for _ in range(3):
        h.advance(1.0)
    assert w.pasted == []
    h.advance(2.5)  # idle for 5 s now
    assert w.pasted == [("hello", False)] and len(h.notes) == 1
    h.run_out()
    assert w.submitted == ["hello"]


def test_what_the_run_does_comes_with_each_status() -> None:
    """The run log's activity (runs --watch) is given by the machine with its status, never
    read out of the status's words."""
    w = world(question=True)
    w.person_typed_at = 0.9
    h = Harness(w, spec_for("hello", attach_idle=5))
    w.now += 0.05
    w.answer_question()  # answered; the person who answered it is still at the pane
    h.drew()
    h.advance(0.1)
    h.advance(6.0)  # they left it alone long enough
    h.run_out()
    doing = [a for _, a in h.live.reporter.statuses]
    assert doing[:3] == [Activity.DELIVERING, Activity.WAITING_QUESTION,
                         Activity.PAUSED_PERSON]
    assert doing[3:] == [Activity.DELIVERING, Activity.WORKING]  # on its way, then confirmed
    assert w.submitted == ["hello"]


def test_a_persons_text_in_the_box_is_waited_for_not_cleared() -> None:
    w = world()
    w.person_typed_at = -500.0  # attached, idle for long: but their words sit in the box
    w.box = "half a thought"
    h = Harness(w, spec_for("hello", attach_idle=5))
    h.advance(3.0)
    assert w.pasted == [] and w.box == "half a thought"
    w.submit(w.box)  # they send it themselves
    w.box = ""
    h.advance(2.5)
    assert w.pasted == [("hello", False)]
    h.run_out()
    assert w.submitted == ["half a thought", "hello"]


def test_nobody_attached_left_text_is_cleared() -> None:
    w = world()
    w.box = "stale words nobody is typing"
    h = Harness(w, spec_for("hello", attach_idle=5))
    h.run_out()
    assert w.submitted == ["hello"]
