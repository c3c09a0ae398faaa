"""conversation.py: the completion marker and the history kept under a token budget."""

from __future__ import annotations

import re

import pytest

from claude_orchestrator.supervisor.conversation import (
    MARKER,
    SYSTEM_PROMPT,
    Conversation,
    estimate_tokens,
    first_message,
    split_completion,
)


# ----------------------------------------------------------------------------- completion
@pytest.mark.parametrize(("text", "summary"), [
    ("TASK_COMPLETE", ""),
    ("All tests pass.\n\nTASK_COMPLETE", "All tests pass."),
    ("Done.\nTASK_COMPLETE\n", "Done."),
    ("Done.\nTASK_COMPLETE.", "Done."),
    ("Done.\n**TASK_COMPLETE**", "Done."),
    ("Done.\n*TASK_COMPLETE*", "Done."),
    ("Done.\n`TASK_COMPLETE`", "Done."),
    ("Done.\n**TASK_COMPLETE.**", "Done."),
    ("Done.\n**TASK_COMPLETE**.", "Done."),
    ("Done.\n  TASK_COMPLETE  \n\n   \n", "Done."),
    ("Done.\n\tTASK_COMPLETE\t", "Done."),
    ("Done.\r\nTASK_COMPLETE\r\n", "Done."),
    ("Summary:\n- fixed the parser\n- added tests\n\nTASK_COMPLETE",
     "Summary:\n- fixed the parser\n- added tests"),
])
def test_completion_detected(text: str, summary: str) -> None:
    assert split_completion(text) == (True, summary)


@pytest.mark.parametrize("text", [
    "I will say TASK_COMPLETE when done.",
    "TASK_COMPLETE\nBut first, run the tests again.",
    "TASK_COMPLETE is what I will write at the end.",
    "Not yet. Please run pytest.\nThe task is TASK_COMPLETE",
    "Done. TASK_COMPLETE",
    "TASK_COMPLETED",
    "TASK_COMPLETE!",
    "TASK_COMPLETE..",
    "NOT_TASK_COMPLETE",
    "Please finish; do not say TASK_COMPLETE yet.\n\nRun the tests.",
    "",
    "   \n\n",
])
def test_completion_not_detected(text: str) -> None:
    complete, rest = split_completion(text)
    assert complete is False
    assert rest == text


def test_marker_constant() -> None:
    assert MARKER == "TASK_COMPLETE"


def test_system_prompt_explains_the_marker() -> None:
    assert MARKER in SYSTEM_PROMPT
    assert "verbatim" in SYSTEM_PROMPT


def test_first_message_has_task_and_workdir() -> None:
    msg = first_message("  Fix the bug\n", "/w/x")
    assert "Fix the bug" in msg
    assert "/w/x" in msg


# ----------------------------------------------------------------------------- history
def _conv(budget: int = 6000, limit: int = 2000) -> Conversation:
    return Conversation(task_message="Task:\nDo it", budget_tokens=budget, reply_limit=limit)


def _total(messages: list[dict[str, str]]) -> int:
    return sum(estimate_tokens(m["content"]) for m in messages)


def _dropped(messages: list[dict[str, str]]) -> int | None:
    for m in messages:
        hit = re.search(r"(\d+) earlier turn", m["content"])
        if hit:
            return int(hit.group(1))
    return None


def test_estimate_tokens_grows_with_length() -> None:
    assert estimate_tokens("") > 0
    assert estimate_tokens("x" * 7000) >= 2000
    assert estimate_tokens("x" * 7000) < estimate_tokens("x" * 7001 * 2)


def test_messages_without_turns() -> None:
    c = _conv()
    assert c.messages() == [{"role": "system", "content": SYSTEM_PROMPT},
                            {"role": "user", "content": "Task:\nDo it"}]


def test_messages_all_turns_fit_no_note() -> None:
    c = _conv()
    for i in range(3):
        c.add_turn(f"prompt {i}", f"reply {i}")
    msgs = c.messages()
    assert [m["role"] for m in msgs] == ["system", "user"] + ["assistant", "user"] * 3
    assert [m["content"] for m in msgs[2:]] == ["prompt 0", "reply 0", "prompt 1", "reply 1",
                                                "prompt 2", "reply 2"]
    assert _dropped(msgs) is None


def test_messages_drop_oldest_and_say_how_many() -> None:
    c = _conv(budget=3000, limit=2000)
    for i in range(30):
        c.add_turn(f"prompt {i}", f"reply {i} " + "x" * 1500)
    msgs = c.messages()
    assert msgs[0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert msgs[1] == {"role": "user", "content": "Task:\nDo it"}
    kept = (len(msgs) - 2) // 2
    assert 0 < kept < 30
    assert _dropped(msgs) == 30 - kept
    assert msgs[-2]["content"] == "prompt 29"
    assert msgs[-1]["content"].startswith("reply 29 ")
    # the note goes with the oldest kept turn, right after the task
    assert "earlier turn" in msgs[3]["content"]
    assert msgs[2]["role"] == "assistant"
    assert _total(msgs) <= 3000
    # the kept turns are the newest, in order
    firsts = [int(m["content"].split()[1]) for m in msgs[2::2]]
    assert firsts == list(range(30 - kept, 30))


def test_long_reply_trimmed_in_the_middle() -> None:
    c = _conv(limit=1000)
    reply = "START " + "m" * 20_000 + " END"
    c.add_turn("p", reply)
    stored = c.messages()[-1]["content"]
    assert len(stored) <= 1000
    assert stored.startswith("START ")
    assert stored.endswith(" END")
    assert "omitted" in stored


def test_empty_reply_is_said_plainly() -> None:
    c = _conv()
    c.add_turn("p", "   \n")
    assert c.messages()[-1]["content"].strip()


def test_turn_note_precedes_reply() -> None:
    c = _conv()
    c.add_turn("p", "the reply", note="Claude crashed and was restarted")
    assert c.messages()[-1]["content"] == "[Claude crashed and was restarted]\nthe reply"


def test_pending_turn_sends_nothing_to_claude() -> None:
    c = _conv()
    c.add_pending("")
    last = c.messages()[-1]
    assert last["role"] == "user"
    assert "empty" in last["content"]


@pytest.mark.parametrize("budget", [60_000, 20_000, 8_000])
def test_200_turns_of_5kb_stay_under_budget(budget: int) -> None:
    c = Conversation(task_message=first_message("Refactor everything", "/w"),
                     budget_tokens=budget, reply_limit=12_000)
    for i in range(200):
        c.add_turn(f"Step {i}: do the next thing, then run the tests.",
                   f"Reply {i}:\n" + ("All good. " * 512))
    msgs = c.messages()
    assert _total(msgs) <= budget
    assert msgs[0]["role"] == "system"
    assert msgs[1]["content"].startswith("Task:")
    assert msgs[-2]["content"].startswith("Step 199:")
    assert msgs[-1]["content"].startswith("Reply 199:")
    kept = (len(msgs) - 2) // 2
    assert _dropped(msgs) == 200 - kept
    assert all(m["role"] == ("assistant" if k % 2 == 0 else "user")
               for k, m in enumerate(msgs[2:]))


def test_newest_turn_kept_even_when_alone_over_budget() -> None:
    c = _conv(budget=2000, limit=100_000)
    c.add_turn("old", "small")
    c.add_turn("newest", "y" * 20_000)
    msgs = c.messages()
    assert msgs[-2]["content"] == "newest"
    assert msgs[-1]["content"].endswith("y")
    assert _dropped(msgs) == 1
