"""Turns in which Claude uses tools, against the real Claude Code CLI and the fake Anthropic API.

A real turn is rarely one text reply: the model asks for a tool (here Bash), Claude Code runs it,
sends the result back in a new request, and only the answer to the last request ends the turn.
The orchestrator must wait through all of it, take only the final text as the reply, and, when
Claude asks the person for permission, neither end the turn nor answer for them.

Measured on 2.1.197: the permission question replaces the input box (so the screen has a
`❯ 1. Yes` selector and no input line: `screen_state` says UNKNOWN_DIALOG), and about 6 s after
it appears Claude fires a `Notification` hook (`notification_type: permission_prompt`,
`message: "Claude needs your permission"`). A capture is in
tests/fixtures/screens/claude_permission_dialog.txt.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from itertools import pairwise
from pathlib import Path
from typing import IO, Any

import pytest

from claude_orchestrator.agents import ScreenState
from claude_orchestrator.runtime.hooks import HookEvent
from claude_orchestrator.session import AgentSession
from claude_orchestrator.turn import TurnResult, run_turn
from tests.fakes.claude_env import claude_env, prepare_home
from tests.fakes.fake_anthropic import FakeAnthropic, Reply
from tests.integration.conftest import tmux_cmd, wait_until
from tests.integration.realcli import (
    API_KEY,
    ASKING_CMD,
    SESSION,
    Real,
    base_environ,
    in_thread,
    joined,
    notes,
    submits,
)

NO_OUTPUT = "(Bash completed with no output)"  # Claude's tool result for a silent command


def bash(command: str, description: str, text: str = "") -> Reply:
    """A reply that asks Claude Code to run `command` with its Bash tool."""
    return Reply(text, tool_use={"name": "Bash",
                                 "input": {"command": command, "description": description}})


def hook_record(sess: AgentSession) -> list[HookEvent]:
    assert sess.channel is not None
    return sess.channel.read_all()


def assert_one_turn_ending_at_the_end(real: Real, sess: AgentSession, result: TurnResult,
                                      prompt: str, final: str, api_calls: int) -> None:
    """The turn was submitted once, ended by the Stop hook after the last API answer (not at a
    tool call), and its reply is the final text only."""
    assert result.ended_by == "hook", result
    assert result.reply == final
    assert submits(sess) == [prompt]
    record = hook_record(sess)
    stops = [ev for ev in record if ev.name in ("Stop", "StopFailure")]
    assert [ev.name for ev in stops] == ["Stop"], [ev.name for ev in record]
    assert stops[0].payload.get("last_assistant_message") == final
    assert result.events.count("Stop") == 1
    requests = real.api.wait_for_requests(api_calls, timeout=5)
    assert len(requests) == api_calls, [r.tool_results for r in requests]
    last = requests[-1].finished_wall
    assert last is not None and result.ended_at is not None
    assert result.ended_at >= last - 0.005, "the turn ended before the final answer was sent"
    # Every request after the first answers the tool call the one before it made.
    for before, after in pairwise(requests):
        blocks = after.tool_result_blocks
        assert [b.get("tool_use_id") for b in blocks] == [before.tool_use_id]
        assert not any(b.get("is_error") for b in blocks), blocks
        assert after.last_user_text == prompt


# ----------------------------------------------------------------------------- the fake alone

def _sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in raw.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            out.append((fields["event"], json.loads(fields["data"])))
    return out


def test_fake_streams_a_tool_call_and_records_the_tool_result() -> None:
    """The fake's tool-call shape (no CLI needed): text block, tool_use block with the input as
    input_json_delta pieces, stop_reason tool_use; the next request's tool results recorded."""
    with FakeAnthropic() as api:
        api.push(bash("echo hi", "say hi", text="Running it."), "final words")
        body: dict[str, Any] = {"model": "m", "max_tokens": 9, "stream": True,
                                "messages": [{"role": "user", "content": "go"}]}

        def post(b: dict[str, Any]) -> bytes:
            req = urllib.request.Request(api.base_url + "/v1/messages?beta=true",
                                         data=json.dumps(b).encode(), method="POST",
                                         headers={"content-type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as resp:
                return bytes(resp.read())

        events = _sse(post(body))
        starts = [d for n, d in events if n == "content_block_start"]
        assert [s["content_block"]["type"] for s in starts] == ["text", "tool_use"]
        tool = starts[1]["content_block"]
        assert tool["name"] == "Bash" and tool["input"] == {} and tool["id"].startswith("toolu_")
        partial = "".join(d["delta"]["partial_json"] for n, d in events
                          if n == "content_block_delta" and d["index"] == 1)
        assert json.loads(partial) == {"command": "echo hi", "description": "say hi"}
        assert [d["delta"]["type"] for n, d in events if n == "content_block_delta"] == [
            "text_delta", "input_json_delta", "input_json_delta", "input_json_delta"]
        assert [n for n, _ in events][-2:] == ["message_delta", "message_stop"]
        assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
        body["messages"] += [
            {"role": "assistant", "content": [{"type": "text", "text": "Running it."},
                                              {**tool, "input": json.loads(partial)}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": tool["id"], "content": "hi"},
                {"type": "tool_result", "tool_use_id": "x",
                 "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]},
        ]
        events = _sse(post(body))
        assert "".join(d["delta"].get("text", "") for n, d in events
                       if n == "content_block_delta") == "final words"
        assert events[-2][1]["delta"]["stop_reason"] == "end_turn"
        first, second = api.wait_for_requests(2, timeout=5)
        assert first.tool_use_id == tool["id"] and first.tool_results == []
        assert second.tool_results == ["hi", "a\nb"]
        assert second.last_user_text == "go" and second.tool_use_id is None


# ----------------------------------------------------------------------------- the real CLI

@pytest.mark.realcli
def test_turn_with_a_tool_call_ends_at_the_final_text(real: Real) -> None:
    prompt = "please write hi into out.txt"
    final = "Done: out.txt now says hi."
    real.api.push(bash("echo hi > out.txt", "write a file", text="I will write the file."),
                  final)
    sess = real.session()
    sess.ensure_ready()
    result = run_turn(sess, prompt)
    assert_one_turn_ending_at_the_end(real, sess, result, prompt, final, api_calls=2)
    assert "I will write the file." not in result.reply
    assert (real.work / "out.txt").read_text() == "hi\n"
    assert real.api.requests[1].tool_results == [NO_OUTPUT]


@pytest.mark.realcli
def test_several_tool_calls_in_a_row_then_text(real: Real) -> None:
    """Three rounds of tool use (the middle one silent for 3 s, longer than the watchdog's quiet
    check), then the answer: one turn, whose reply is the last text."""
    prompt = "append three lines to out.txt"
    final = "All three lines are in out.txt."
    real.api.push(
        bash("echo one >> out.txt && wc -l < out.txt", "first line", text="Step 1."),
        bash("sleep 3 && echo two >> out.txt && wc -l < out.txt", "second line",
             text="Step 2."),
        bash("echo three >> out.txt && wc -l < out.txt", "third line"),
        final,
    )
    sess = real.session()
    sess.ensure_ready()
    result = run_turn(sess, prompt)
    assert_one_turn_ending_at_the_end(real, sess, result, prompt, final, api_calls=4)
    assert "Step" not in result.reply
    assert (real.work / "out.txt").read_text() == "one\ntwo\nthree\n"
    assert [r.tool_results for r in real.api.requests] == [[], ["1"], ["2"], ["3"]]
    assert result.confirmed_at is not None and result.ended_at is not None
    assert result.ended_at - result.confirmed_at >= 3.0


@pytest.mark.realcli
def test_permission_dialog_keeps_the_turn_open_until_answered(real: Real) -> None:
    """Without bypass mode Claude asks before running Bash. The orchestrator does not take the
    question for an idle prompt, passes Claude's Notification on to the person, and the turn
    ends with the final text once the person answered (here: Enter on `1. Yes`)."""
    prompt = "please write hi into out.txt"
    final = "Done after asking: out.txt says hi."
    real.api.push(bash("echo hi > out.txt", "write a file", text="I will write the file."),
                  final)
    sess = real.session(claude_cmd=ASKING_CMD)
    sess.ensure_ready()
    t, box = in_thread(lambda: run_turn(sess, prompt))

    def asking() -> bool:
        return "Do you want to proceed?" in "\n".join(sess.runtime.capture())

    assert wait_until(asking, timeout=30, interval=0.1), "\n".join(sess.runtime.capture())
    shown_at = time.monotonic()
    # Claude 2.1.197 sends its permission Notification some 6 s after the question appears.
    assert wait_until(lambda: any("needs your permission" in n for n in notes(sess)),
                      timeout=30, interval=0.1), notes(sess)
    note = next(n for n in notes(sess) if "needs your permission" in n)
    assert f"tmux -L {real.socket} attach -t {SESSION}" in note
    # Well past the watchdog's quiet check (2 s): the turn is still waiting for the answer.
    time.sleep(max(0.0, shown_at + 3.0 - time.monotonic()))
    assert t.is_alive(), box
    lines = sess.runtime.capture()
    screen = "\n".join(lines)
    assert "Bash command" in screen and "echo hi > out.txt" in screen
    assert any(line.strip() == "❯ 1. Yes" for line in lines), screen
    assert sess.agent.screen_state(lines) is not ScreenState.IDLE
    assert not (real.work / "out.txt").exists()
    assert len(real.api.requests) == 1

    real.tmux("send-keys", "-t", f"={SESSION}:", "Enter")  # 1. Yes
    result = joined(t, box, 60)
    assert_one_turn_ending_at_the_end(real, sess, result, prompt, final, api_calls=2)
    assert "Notification" in result.events
    assert (real.work / "out.txt").read_text() == "hi\n"
    assert real.api.requests[1].tool_results == [NO_OUTPUT]
    assert len([n for n in notes(sess) if "needs your permission" in n]) == 1


@pytest.mark.realcli
def test_next_message_waits_while_a_question_is_open(real: Real) -> None:
    """A turn given up on (idle timeout) while Claude asks permission leaves the question on
    screen: the next message must not be pasted into it (its text would answer the question);
    it waits, and is delivered once the question is answered. Then the turn that asked goes
    on with its tool (2 s here): a message pasted meanwhile would be folded into that turn
    (2.1.197: a note to the model, no UserPromptSubmit, turn 1's reply taken for its own), so
    it waits for that turn to end and gets a turn of its own."""
    final = "Done after asking: out.txt says hi."
    real.api.push(bash("sleep 2; echo hi > out.txt", "write a file"), final)
    sess = real.session(claude_cmd=ASKING_CMD, idle_timeout="3")
    sess.ensure_ready()
    first = run_turn(sess, "please write hi into out.txt")
    assert first.ended_by == "idle-timeout"
    assert "Do you want to proceed?" in "\n".join(sess.runtime.capture())
    t, box = in_thread(lambda: run_turn(sess, "2"))  # "2" would pick an answer in the dialog
    assert wait_until(lambda: any("the message waits" in n for n in notes(sess)), 10)
    time.sleep(1.0)
    assert t.is_alive(), box
    assert len(real.api.requests) == 1
    real.tmux("send-keys", "-t", f"={SESSION}:", "Enter")  # a person answers: 1. Yes
    second = joined(t, box, 60)
    assert (real.work / "out.txt").read_text() == "hi\n"  # "1. Yes" was the answer, not "2"
    assert second.reply == "ECHO: 2"
    assert [r.last_user_text for r in real.api.requests][-1] == "2"
    assert folded_notes(real.api, "2") == 0  # never folded into the turn that asked


def folded_notes(api: FakeAnthropic, text: str) -> int:
    """Requests that carry `text` as Claude's note of a message typed while a tool ran (the
    fold: a `system` entry, no UserPromptSubmit, no turn of its own)."""
    note = f"The user sent a new message while you were working:\n{text}\n"
    return sum(note in json.dumps(r.body.get("messages", [])).replace("\\n", "\n")
               for r in api.requests)


QUESTION_RUNS = int(os.environ.get("CO_SOAK_QUESTION_RUNS", "5"))


@pytest.mark.realcli
@pytest.mark.soak
@pytest.mark.timeout(QUESTION_RUNS * 120 + 60)
def test_a_reply_under_a_closed_question_goes_to_its_own_message_under_load(
        tmp_path: Path, require_claude_cli: None) -> None:
    """Issue 16 §2 through the installed command, with two CPU burners, `CO_SOAK_QUESTION_RUNS` (5)
    times: turn 1 asks for a permission and is given up on at --idle-timeout; message 2 is
    piped in and waits; a person answers in the pane. Message 2 gets its own reply and reaches
    the API once, as a prompt of its own; turn 1's final text is never its reply."""
    burners = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(2)]
    failures: list[str] = []
    try:
        for i in range(QUESTION_RUNS):
            failure = _question_round(tmp_path / f"round{i}")
            if failure:
                failures.append(f"round {i}: {failure}")
    finally:
        for b in burners:
            b.kill()
            b.wait()
    assert not failures, "\n\n".join(failures)


def _question_round(tmp: Path) -> str:
    """One round of the scenario; what went wrong ("" when nothing did)."""
    work = tmp / "work"
    work.mkdir(parents=True)
    socket = f"co-soak-{uuid.uuid4().hex[:10]}"
    with FakeAnthropic() as api:
        api.push(bash("echo hi > out.txt", "write a file"), "TOOLDONE out.txt says hi.")
        env = claude_env(prepare_home(tmp / "home", API_KEY, trusted_dirs=[work]),
                         api.base_url, API_KEY, base=base_environ(tmp))
        chat = subprocess.Popen(
            [sys.executable, "-m", "claude_orchestrator", "--chat", "--socket", socket,
             "--terminate-when-quit", "--claude-cmd", ASKING_CMD, "--idle-timeout", "3",
             str(work)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        assert chat.stdin is not None and chat.stdout is not None and chat.stderr is not None
        out, err = Drain(chat.stdout), Drain(chat.stderr)

        def screen() -> str:
            return tmux_cmd(socket, "capture-pane", "-p", "-J", "-t", f"={SESSION}:").stdout

        def send(line: str) -> None:
            assert chat.stdin is not None
            chat.stdin.write(line.encode() + b"\n")
            chat.stdin.flush()

        try:
            send("please write hi into out.txt")
            steps = [(lambda: "Do you want to proceed?" in screen(), "no question"),
                     (lambda: out.text.count("you>") >= 2, "turn 1 was not given up on")]
            for ready, why in steps:
                if not wait_until(ready, 60, 0.1):
                    return f"{why}\n{err.text}\n{screen()}"
            send("2")
            if not wait_until(lambda: "the message waits" in err.text, 20, 0.1):
                return f"message 2 did not wait\n{err.text}"
            time.sleep(1.0)
            tmux_cmd(socket, "send-keys", "-t", f"={SESSION}:", "Enter")  # a person: 1. Yes
            if not wait_until(lambda: out.text.count("you>") >= 3, 90, 0.1):
                return f"turn 2 did not end\n{out.text}\n{err.text}\n{screen()}"
            send("/quit")
            chat.wait(30)
        finally:
            chat.kill()
            chat.wait()
            tmux_cmd(socket, "kill-server")
        reply2 = out.text.split("you>")[2]
        texts = [r.last_user_text for r in api.requests]
        if "ECHO: 2" not in reply2 or "TOOLDONE" in reply2:
            return f"message 2's reply was {reply2!r}\n{err.text}"
        if texts.count("2") != 1 or folded_notes(api, "2"):
            return f"message 2 reached the API {texts.count('2')} times as a prompt, " \
                   f"{folded_notes(api, '2')} times folded into turn 1"
    return ""


class Drain:
    """Everything a pipe says, read by a thread as it comes (the chat prompt has no newline)."""

    def __init__(self, pipe: IO[bytes]) -> None:
        self._parts: list[bytes] = []
        threading.Thread(target=self._read, args=(pipe,), daemon=True).start()

    def _read(self, pipe: IO[bytes]) -> None:
        for chunk in iter(lambda: os.read(pipe.fileno(), 4096), b""):
            self._parts.append(chunk)

    @property
    def text(self) -> str:
        return b"".join(self._parts).decode(errors="replace")
