"""Edges of start-up and recovery against the real Claude Code CLI: the custom API key question,
a crash before Claude saved the conversation, a dead pane at start."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from claude_orchestrator.agents import UnknownDialog
from claude_orchestrator.turn import run_turn
from tests.integration.conftest import run_cli
from tests.integration.realcli import API_KEY, Real, notes

pytestmark = pytest.mark.realcli


def _forget_api_key(home: Path) -> None:
    """A HOME where Claude has not been told yet whether to use ANTHROPIC_API_KEY."""
    path = home / ".claude.json"
    data = json.loads(path.read_text())
    data.pop("customApiKeyResponses", None)
    path.write_text(json.dumps(data))


def test_api_key_question_is_not_answered_without_the_setting(real: Real) -> None:
    _forget_api_key(real.home)
    sess = real.session(startup_timeout="20")
    with pytest.raises(UnknownDialog) as info:
        sess.ensure_ready()
    assert "--accept-api-key" in str(info.value)
    assert "Do you want to use this API key" in info.value.screen
    assert real.api.requests == []


def test_api_key_question_is_answered_yes_with_the_setting(real: Real) -> None:
    _forget_api_key(real.home)
    sess = real.session(accept_api_key=True)
    sess.ensure_ready()
    result = run_turn(sess, "hello with the key")
    assert result.reply == "ECHO: hello with the key"
    assert any("ANTHROPIC_API_KEY" in n for n in notes(sess))
    data = json.loads((real.home / ".claude.json").read_text())
    assert API_KEY[-20:] in data["customApiKeyResponses"]["approved"]


def test_crash_before_claude_saved_the_conversation_starts_fresh_and_says_so(
        real: Real) -> None:
    """Claude writes a finished turn to its transcript ~90 ms after Stop; killed before that,
    `--resume` answers `No conversation found`: the orchestrator starts a new conversation,
    says so plainly, and goes on (no restart loop)."""
    sess = real.session()
    sess.ensure_ready()
    first = run_turn(sess, "the very first message")
    assert first.ended_by == "hook"
    real.tmux("kill-server")  # within milliseconds of the Stop hook
    t0 = time.monotonic()
    second = run_turn(sess, "after the early crash")
    assert time.monotonic() - t0 < 15
    assert second.reply == "ECHO: after the early crash"
    said = " ".join(notes(sess))
    if "could not be resumed" in said:
        assert real.api.requests[-1].texts[-1] == "after the early crash"
    else:  # Claude was fast enough this time: the conversation was resumed
        assert "the very first message" in real.api.requests[-1].texts


def test_claude_restarted_after_it_exits_by_itself(real: Real) -> None:
    """A person's /exit ends Claude (status 0) during the turn: it is restarted at once with
    the conversation resumed, the turn says so, and /exit is not sent again."""
    sess = real.session()
    sess.ensure_ready()
    run_turn(sess, "remember pelican")
    time.sleep(0.3)  # let Claude save the turn
    exited = run_turn(sess, "/exit", literal=False)
    assert exited.ended_by == "agent-died"
    assert "status 0" in exited.reply and "not sent again" in exited.reply
    assert sess.runtime.status().alive
    result = run_turn(sess, "still there?")
    assert result.reply == "ECHO: still there?"
    assert "remember pelican" in real.api.requests[-1].texts
    assert any("resumed" in n for n in notes(sess))


@pytest.mark.parametrize(("text", "at_api"), [
    ("ends with a backslash \\", "ends with a backslash \\"),
    ("multi\nline ending in backslash \\\n", "multi\nline ending in backslash \\"),
    ("\\", "\\"),
    ("trailing spaces   ", "trailing spaces"),
    ("  leading spaces kept", "  leading spaces kept"),
    ("@file mention stays text", "@file mention stays text"),
    ("& ampersand first", "& ampersand first"),
    ("?", "?"),
])
def test_edge_texts_arrive_as_written(real: Real, text: str, at_api: str) -> None:
    """A final backslash would turn Enter into a new line (and vanish): it must arrive."""
    sess = real.session()
    sess.ensure_ready()
    result = run_turn(sess, text)
    assert result.ended_by == "hook"
    assert result.enters == 1
    assert [r.last_user_text for r in real.api.requests] == [at_api]


def test_a_second_orchestrator_adopts_the_running_claude(real: Real) -> None:
    """TERMINATE_WHEN_QUIT=false leaves Claude running; the next orchestrator on the session
    takes it over: hooks still report, and it knows the conversation to resume."""
    first = real.session()
    first.ensure_ready()
    run_turn(first, "first orchestrator")
    session_id = first.session_id
    first.close(terminate=False)
    real.sessions.remove(first)
    second = real.session()
    assert second.ensure_ready() is not None  # already running: not restarted
    result = run_turn(second, "second orchestrator")
    assert result.ended_by == "hook"
    assert result.reply == "ECHO: second orchestrator"
    assert second.session_id == session_id
    assert real.api.requests[-1].texts[-2:] == ["first orchestrator", "second orchestrator"]


def test_silent_hooks_fall_back_to_the_screen(real: Real, tmp_path: Path) -> None:
    """A user whose settings disable all hooks still gets turns (by the screen), and is told."""
    settings = tmp_path / "no-hooks.json"
    settings.write_text(json.dumps({"disableAllHooks": True}))
    sess = real.session(claude_cmd="claude --dangerously-skip-permissions "
                                   f"--setting-sources user --settings {settings}")
    sess.ensure_ready()
    assert any("hooks do not report" in n for n in notes(sess))
    result = run_turn(sess, "no hooks here")
    assert result.ended_by == "screen"
    assert "ECHO: no hooks here" in result.reply
    assert [r.last_user_text for r in real.api.requests] == ["no hooks here"]


def test_a_users_stop_hook_that_sends_claude_back_to_work(real: Real, tmp_path: Path) -> None:
    """A user's own Stop hook can block the first Stop (exit 2: "run the tests first"); Claude
    goes on. The turn ends at the real end, with the last reply, not at the blocked Stop."""
    mark = tmp_path / "blocked-once"
    hook = tmp_path / "stop-gate.sh"
    hook.write_text(f'#!/bin/sh\nif [ ! -f "{mark}" ]; then touch "{mark}"; '
                    'echo "run the tests first" >&2; exit 2; fi\nexit 0\n')
    hook.chmod(0o755)
    settings = tmp_path / "gate.json"
    settings.write_text(json.dumps({"hooks": {"Stop": [{"hooks": [
        {"type": "command", "command": str(hook)}]}]}}))
    real.api.push("first answer", "second answer, after the tests")
    sess = real.session(claude_cmd="claude --dangerously-skip-permissions "
                                   f"--setting-sources user --settings {settings}")
    sess.ensure_ready()
    assert sess.stop_hooks_elsewhere
    result = run_turn(sess, "do the work")
    assert mark.exists()
    assert result.ended_by == "hook"
    assert result.reply == "second answer, after the tests"
    assert len(real.api.requests) == 2
    assert "run the tests first" in json.dumps(real.api.requests[1].body)


# Views the slash commands open over the prompt, by what they show (both releases).
VIEWS = [("/help", "Shortcuts"), ("/cost", "Total duration (API)"), ("/status", "Session ID:"),
         ("/config", "Auto-compact")]


def test_chat_shows_what_a_view_command_printed_and_closes_it(real: Real) -> None:
    """Issue 18 §3, through the installed command: `/help`, `/cost`, `/status` and `/config`
    open a panel with no input box (2.1.332 and 2.1.197); chat prints what it showed, closes it
    (Escape; `/config` on 2.1.332 takes two, its search field first), and the next message
    gets its own reply."""
    lines = []
    for command, _ in VIEWS:
        lines += [command, f"after {command}"]
    proc = run_cli(["--chat", "--socket", real.socket, "--terminate-when-quit",
                    str(real.work)], real.env, input="\n".join(lines) + "\n", timeout=240)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    turns = proc.stdout.split("you> ")[1:]
    assert len(turns) == len(lines) + 1, proc.stdout  # the last prompt meets the end of input
    for i, (command, shown) in enumerate(VIEWS):
        assert shown in turns[2 * i], (command, turns[2 * i])
        assert turns[2 * i + 1].strip() == f"ECHO: after {command}", (command, proc.stdout)
    assert real.conversation() == [f"after {c}" for c, _ in VIEWS]  # views reach no API
    assert "did not arrive" not in proc.stderr, proc.stderr
