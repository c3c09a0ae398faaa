"""A turn's tokens from Claude's transcript (agents/transcript.py `turn_usage`) and their
collection after the reply was handed over (drivers/usage.py), on files written the ways
Claude 2.1.197 and 2.1.332 write them (measured: shared/claude-code-facts.md and issue 23)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from claude_orchestrator.agents.prices import Tokens
from claude_orchestrator.agents.transcript import ToolUse, TurnWork, turn_work
from claude_orchestrator.drivers.usage import UsageCollector


def user(text: str) -> dict[str, Any]:
    return {"type": "user", "message": {"role": "user", "content": [
        {"type": "text", "text": "<system-reminder>x</system-reminder>"},
        {"type": "text", "text": text}]}}


def answer(mid: str, text: str, inp: int, out: int, model: str = "m") -> dict[str, Any]:
    return {"type": "assistant", "message": {"id": mid, "model": model, "content": [
        {"type": "text", "text": text}], "usage": {"input_tokens": inp, "output_tokens": out}}}


TAIL = [{"type": "system", "subtype": "stop_hook_summary"},
        {"type": "system", "subtype": "turn_duration"}]


def write(path: Path, *entries: dict[str, Any]) -> int:
    with path.open("a") as f:
        for e in entries:
            f.write(json.dumps(e) + "\n")
    return path.stat().st_size


def test_a_turn_is_read_from_its_prompt_to_its_reply(tmp_path: Path) -> None:
    """The next turn began (its mark taken) before Claude wrote the previous turn's answer and
    tail: the second turn still counts only its own answers, the first its own."""
    path = tmp_path / "t.jsonl"
    write(path, user("one"))
    mark = path.stat().st_size  # turn two begins here, before turn one's answer is written
    write(path, answer("a1", "first", 10, 1), *TAIL, user("two"),
          answer("a2", "thinking", 20, 2), answer("a3", "second", 30, 3), *TAIL)
    seen: set[str] = set()
    assert turn_work(path, 0, prompt="one", reply="first", seen=seen) == TurnWork(
        [Tokens("m", 10, 1)], [], True)
    assert turn_work(path, mark, prompt="two", reply="second", seen=seen) == TurnWork(
        [Tokens("m", 50, 5)], [], True)
    assert turn_work(path, 0, prompt="two", reply="second", seen=seen).tokens == []  # once


def test_a_turn_whose_reply_is_not_written_yet_is_not_done(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    write(path, user("one"), answer("a1", "working on it", 10, 1))
    assert turn_work(path, 0, prompt="one", reply="done") == TurnWork([Tokens("m", 10, 1)])
    assert turn_work(tmp_path / "missing.jsonl", 0, prompt="x", reply="y") == TurnWork()


def test_without_its_prompt_the_answers_after_the_mark_count(tmp_path: Path) -> None:
    """A `!cmd` or merged queued messages: no prompt line matches, the mark decides; synthetic
    lines (API errors) and repeated ids count nothing."""
    path = tmp_path / "t.jsonl"
    mark = write(path, user("earlier"), answer("a0", "old", 5, 5))
    write(path, answer("a1", "x", 10, 1, model="<synthetic>"), answer("a2", "y", 7, 3),
          answer("a2", "y", 7, 3))
    assert turn_work(path, mark, prompt="not there", reply="y") == TurnWork(
        [Tokens("m", 7, 3)], [], True)


def test_the_prompt_is_found_after_claudes_own_normalisation(tmp_path: Path) -> None:
    """Claude holds a folded paste wrapped (2.1.332) and tabs as spaces."""
    path = tmp_path / "t.jsonl"
    wrapped = '\n\n<pasted_content id="a1b2">\nline\tone\nline two\n</pasted_content id="a1b2">\n'
    write(path, user(wrapped), answer("a1", "ok", 4, 2))
    assert turn_work(path, 0, prompt="line\tone\nline two", reply="ok").done


def test_the_collector_records_each_turn_once_after_its_reply_is_written(
        tmp_path: Path) -> None:
    """The reply is had long before the usage: the collector waits for it in the background
    (1 s late here) and records it once; `settle` waits for what is still being read."""
    path = tmp_path / "t.jsonl"
    write(path, user("one"))
    recorded: list[tuple[int, list[Tokens]]] = []
    collector = UsageCollector(lambda seq, work: recorded.append((seq, work.tokens)), quiet=5.0)
    late = threading.Timer(1.0, write, (path, answer("a1", "first", 10, 1), *TAIL))
    collector.collect(1, str(path), 0, prompt="one", reply="first")
    late.start()
    assert recorded == []  # collect never waits for the usage
    collector.settle()  # ... settle does: the answer was written a second later
    assert recorded == [(1, [Tokens("m", 10, 1)])]


def test_a_turn_never_written_ends_the_wait_after_the_quiet_time(tmp_path: Path) -> None:
    """An API error's turn has no answer line: nothing is recorded, and the wait ends (the
    file stayed still for the quiet time) instead of lasting forever."""
    path = tmp_path / "t.jsonl"
    write(path, user("one"))
    recorded: list[object] = []
    collector = UsageCollector(lambda seq, work: recorded.append(work), quiet=0.3)
    collector.collect(1, str(path), 0, prompt="one", reply="never")
    collector.settle()
    assert recorded == []


def tool_call(tid: str, name: str, given: dict[str, Any]) -> dict[str, Any]:
    return {"type": "assistant", "message": {"id": f"m-{tid}", "model": "m", "content": [
        {"type": "tool_use", "id": tid, "name": name, "input": given}],
        "usage": {"input_tokens": 1, "output_tokens": 1}}}


def tool_result(tid: str, error: bool) -> dict[str, Any]:
    return {"type": "user", "message": {"role": "user", "content": [
        {"tool_use_id": tid, "type": "tool_result", "content": "x", "is_error": error}]}}


def test_the_tools_a_turn_used_with_what_they_acted_on(tmp_path: Path) -> None:
    """As Claude 2.1.332 writes them: a tool_use block per call, its result in a user line.
    Bash names its command, the file tools their file; a failed result is marked; a call whose
    result is not written yet is neither."""
    path = tmp_path / "t.jsonl"
    write(path, user("do it"), tool_call("t1", "Bash", {"command": "echo hi > out.txt",
                                                          "description": "write"}),
          tool_result("t1", False), tool_call("t2", "Edit", {"file_path": "/w/a.py",
                                                             "old_string": "x"}),
          tool_result("t2", True), tool_call("t3", "Read", {"file_path": "/w/b.py"}),
          tool_call("t4", "Write", {"file_path": "/w/c.py", "content": "y"}),
          answer("a9", "Done.", 1, 1))
    work = turn_work(path, 0, prompt="do it", reply="Done.")
    assert work.done and work.tools == [
        ToolUse("Bash", "echo hi > out.txt", False), ToolUse("Edit", "/w/a.py", True),
        ToolUse("Read", "/w/b.py", None), ToolUse("Write", "/w/c.py", None)]
    assert [t.writes_file for t in work.tools] == [False, True, False, True]
