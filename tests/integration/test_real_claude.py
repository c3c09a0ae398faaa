"""The orchestrator against the real Claude Code CLI (the pinned version, installed by
scripts/install-claude-code) and the fake Anthropic API on 127.0.0.1.

Each test has its own tmux server (unique socket, killed afterwards), a private HOME, a private
XDG_RUNTIME_DIR and run log. What Claude received is checked where it ends up: at the fake API.
These tests never skip: without the CLI they fail and say how to install it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from claude_orchestrator.agents.claude import claude_normalise, prompts_match
from claude_orchestrator.session import AgentSession
from claude_orchestrator.turn import run_turn
from tests.fakes.claude_env import claude_env, claude_version, prepare_home
from tests.fakes.fake_anthropic import FakeAnthropic, Reply
from tests.integration.conftest import run_cli, wait_until
from tests.integration.realcli import (
    API_KEY,
    SESSION,
    Real,
    base_environ,
    claude_pids,
    in_thread,
    joined,
    notes,
    submits,
)

pytestmark = pytest.mark.realcli

def test_fresh_home_passes_trust_and_bypass_dialogs_unattended(
        tmp_path: Path, socket_name: str, api: FakeAnthropic) -> None:
    home = prepare_home(tmp_path / "home", API_KEY, fresh=True)
    work = tmp_path / "new-project"
    work.mkdir()
    env = claude_env(home, api.base_url, API_KEY, base=base_environ(tmp_path))
    proc = run_cli(["--chat", "--socket", socket_name, "--terminate-when-quit", str(work)], env,
                   input="hello from a fresh home\n", timeout=120)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "ECHO: hello from a fresh home" in proc.stdout, proc.stdout
    err_lines = proc.stderr.splitlines()
    trust = [ln for ln in err_lines if "folder-trust" in ln]
    bypass = [ln for ln in err_lines if "bypass-permissions" in ln]
    assert len(trust) == 1 and trust[0].startswith("[orchestrator] accepted"), proc.stderr
    assert len(bypass) == 1 and bypass[0].startswith("[orchestrator] accepted"), proc.stderr
    assert err_lines.index(trust[0]) < err_lines.index(bypass[0])
    # Claude itself recorded both answers, and the message reached the API once.
    cfg = json.loads((home / ".claude.json").read_text())
    assert cfg["projects"][str(work.resolve())]["hasTrustDialogAccepted"] is True
    settings = json.loads((home / ".claude" / "settings.json").read_text())
    assert settings.get("skipDangerousModePermissionPrompt") is True
    assert [r.last_user_text for r in api.requests] == ["hello from a fresh home"]


# ----------------------------------------------------------------------------- 2. delivery

_FIFTY = "\n".join(f"line {i:02d}: value = {i * 7} ; `x{i}` $(y{i})" for i in range(50))
_TEN_KB = "\n".join(f"{i:04d} " + "abcdefghij" * 9 for i in range(110))
DELIVERY_TEXTS = [
    "it's \"double\" and 'single' quotes",
    "$(echo pwned) `uname -a` ; rm -rf /nothing && echo no || true",
    "unicode: naïve café – Ωmega ✓ 日本語 Ünïcödé",
    "emoji with ZWJ: 👩‍💻 👨‍👩‍👧‍👦 🏳️‍🌈 and plain 🚀",
    "tab\tseparated\tcolumns\there",
    "    four leading spaces and a trailing word",
    "first line\nsecond line with `code`\n\nafter a blank line\n\n\n  indented after two blanks",
    "def f(x):\n\treturn x  # tab-indented\n\n    spaces = 'kept'",
    _FIFTY,
    _TEN_KB,
    # Claude composes Unicode (NFC): a decomposed é arrives composed, and is still ours.
    "cafe\u0301 and A\u030a and \u212b",
    # 2.1.332 folds these into [Pasted text #N] and wraps them in <pasted_content>.
    "one\ntwo\nthree\nfour\nfive",
    "x" * 1200,
    "first\n\n<pasted_content id=\"abcd\">\nnot a real wrapper\n</pasted_content id=\"abcd\">",
]


def test_delivery_is_byte_exact_and_submitted_once(real: Real) -> None:
    assert len(_TEN_KB) > 10_000
    sess = real.session()
    results = []
    for i, text in enumerate(DELIVERY_TEXTS):
        before = len(real.api.requests)
        r = run_turn(sess, text)
        results.append(r)
        after = real.api.requests
        assert len(after) == before + 1, f"text #{i} made {len(after) - before} requests"
        got = after[-1].last_user_text
        # 2.1.332 wraps a paste it folds (from a few lines) in <pasted_content>: its own doing.
        assert claude_normalise(got) == claude_normalise(text), f"#{i} arrived as {got!r}"
        assert r.ended_by == "hook", (i, r)
        assert r.received_text is not None and prompts_match(r.received_text, r.sent_text)
        assert r.received_text == got, (i, r.received_text, got)
        assert r.reply == f"ECHO: {got}".rstrip(), i  # Claude trims its reply's end
        assert r.enters == 1, (i, r)
    time.sleep(1.0)  # a late second submit would show up by now
    assert [claude_normalise(t) for t in real.conversation()] == [
        claude_normalise(t) for t in DELIVERY_TEXTS]
    assert [claude_normalise(p) for p in submits(sess)] == [
        claude_normalise(t) for t in DELIVERY_TEXTS]
    assert all(r.sent_text == r.message for r in results)


# ----------------------------------------------------------------------------- 3. replies

MARKDOWN_REPLY = (
    "# Heading\n\nUse `run_turn(sess, msg)` with **bold** and _italic_ text.\n\n"
    "```python\ndef f(x):\n    return x * 2  # `not rendered`\n```\n\n"
    "- item one\n- item `two`\n  - nested\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
    "> quoted line\n\n1. first\n2. second\n\nA [link](http://example.invalid) and \\*stars\\*."
)


def test_reply_is_the_api_text_exactly(real: Real) -> None:
    sess = real.session()
    replies = [MARKDOWN_REPLY, "`single backticks` only", "line one\n\n\n    indented code?"]
    real.api.push(*replies)
    for i, expected in enumerate(replies):
        r = run_turn(sess, f"reply number {i}")
        assert r.ended_by == "hook", r
        assert r.reply == expected
    screen = "\n".join(sess.runtime.capture(history=200))
    assert "```" not in screen  # the screen renders markdown: only the hook has the text


# ----------------------------------------------------------------------------- 4. a long turn


def test_thirty_second_turn_is_waited_for(real: Real) -> None:
    sess = real.session()
    text = " ".join(f"word{i}" for i in range(60))
    real.api.push(Reply(text, duration=30))
    r = run_turn(sess, "take your time")
    assert r.ended_by == "hook", r
    assert r.reply == text
    assert r.reply_at - r.sent_at >= 29.0
    rec = real.api.requests[-1]
    assert rec.finished_wall is not None and r.reply_at >= rec.finished_wall


# ----------------------------------------------------------------------------- 5. resume


def _resumed_note(sess: AgentSession, session_id: str) -> None:
    said = notes(sess)
    assert any("conversation resumed" in n and session_id in n for n in said), said


def test_killed_claude_mid_turn_is_resumed(real: Real) -> None:
    sess = real.session()
    first = run_turn(sess, "remember the word PINEAPPLE")
    assert first.ended_by == "hook"
    sid = sess.session_id
    assert sid
    time.sleep(1.0)  # Claude saves the finished turn to its transcript shortly after Stop
    real.api.push(Reply("a slow answer " * 20, duration=20))
    t, box = in_thread(lambda: run_turn(sess, "now something slow"))
    real.api.wait_for_requests(2, timeout=30, finished=False)
    time.sleep(0.5)
    pids = claude_pids(real)
    assert pids, "no claude process under the pane's shell"
    killed_at = time.time()
    for pid in pids:
        os.kill(pid, 9)
    lost = joined(t, box, 60)
    slow = real.api.requests[1]
    assert slow.finished_wall is None or slow.finished_wall > killed_at  # killed mid-turn
    assert lost.ended_by == "agent-died", lost
    assert "not sent again" in lost.reply
    after = run_turn(sess, "what was the word?")
    assert after.ended_by == "hook", after
    assert after.reply == "ECHO: what was the word?"
    rec = real.api.requests[-1]
    assert "remember the word PINEAPPLE" in rec.texts, rec.texts
    assert rec.last_user_text == "what was the word?"
    assert sess.session_id == sid
    _resumed_note(sess, sid)
    # The interrupted message was not delivered a second time.
    assert real.conversation().count("now something slow") == 1


def test_killed_tmux_server_between_turns_is_resumed(real: Real) -> None:
    sess = real.session()
    first = run_turn(sess, "remember the number 4711")
    assert first.ended_by == "hook"
    sid = sess.session_id
    assert sid
    time.sleep(1.0)  # let Claude write its transcript
    assert real.tmux("kill-server").returncode == 0
    assert wait_until(lambda: not sess.runtime.status().server, 5)
    second = run_turn(sess, "which number?")
    assert second.ended_by == "hook", second
    assert second.reply == "ECHO: which number?"
    rec = real.api.requests[-1]
    assert rec.texts[-1] == "which number?"
    assert "remember the number 4711" in rec.texts, rec.texts
    assert sess.session_id == sid
    _resumed_note(sess, sid)
    assert real.conversation().count("which number?") == 1


# ----------------------------------------------------------------------------- 6. slash text


def test_command_like_text_is_a_prompt_in_autonomous_mode_and_a_command_in_chat(
        real: Real) -> None:
    sess = real.session()
    cases = [("/explain this", " /explain this"), ("!ls", " !ls"),
             ("#note to self", "#note to self"),  # `#` is a plain prompt on both releases
             # A command Claude knows runs even after a leading space on 2.1.332: a backslash
             # keeps it a prompt (and /compact or /clear from wiping the conversation).
             ("/compact the notes", "\\/compact the notes"),
             ("  /clear the cache folder", "\\  /clear the cache folder")]
    for text, sent in cases:
        before = len(real.api.requests)
        r = run_turn(sess, text, literal=True)
        assert r.ended_by == "hook", r
        assert r.sent_text == sent
        assert len(real.api.requests) == before + 1, text
        assert real.api.requests[-1].last_user_text == sent
        assert r.received_text == sent
        assert r.reply == f"ECHO: {sent}"
    count = len(real.api.requests)
    # Chat mode: a person's slash command passes through to Claude as a command.
    r = run_turn(sess, "/explain", literal=False)
    assert r.sent_text == "/explain"
    assert "Unknown command" in r.reply, r
    screen = "\n".join(sess.runtime.capture(history=100))
    assert "Unknown command: /explain" in screen
    time.sleep(0.5)
    assert len(real.api.requests) == count
    assert "/explain" not in real.conversation()


# ----------------------------------------------------------------------------- 7-8. API errors


def test_api_error_400_ends_the_turn_by_stop_failure(real: Real) -> None:
    sess = real.session()
    # 2.1.332 tries a 400 again before it gives up; 2.1.197 gives up at once.
    real.api.fail_next(12, status=400, message="this request is bad")
    r = run_turn(sess, "this will fail")
    assert r.ended_by == "api-error", r
    assert "API Error: 400" in r.reply, r.reply
    assert r.reply_at - r.sent_at < 15


def test_overloaded_529_is_retried_by_claude_and_submitted_once(real: Real) -> None:
    sess = real.session()
    real.api.fail_next(2, status=529)
    r = run_turn(sess, "survive the overload")
    assert r.ended_by == "hook", r
    assert r.reply == "ECHO: survive the overload"
    recs = [x for x in real.api.requests if x.last_user_text == "survive the overload"]
    assert [x.status for x in recs] == [529, 529, 200]
    assert submits(sess).count("survive the overload") == 1
    assert r.enters == 1


# ----------------------------------------------------------------------------- 9. Escape


def test_interrupted_turn_ends_by_the_screen_watchdog(real: Real) -> None:
    sess = real.session()
    real.api.push(Reply("streaming for a long time " * 30, duration=40))
    t, box = in_thread(lambda: run_turn(sess, "a long answer please"))
    real.api.wait_for_requests(1, timeout=30, finished=False)
    time.sleep(1.5)
    assert real.tmux("send-keys", "-t", f"={SESSION}:", "Escape").returncode == 0
    pressed = time.monotonic()
    r = joined(t, box, 20)
    took = float(box["done_at"]) - pressed  # type: ignore[arg-type]
    assert r.ended_by == "screen", r
    assert took < 8.0, f"the interrupted turn took {took:.1f}s to end"
    print(f"interrupted turn ended {took:.2f}s after Escape")
    # Claude is usable afterwards.
    again = run_turn(sess, "after the interruption")
    assert again.ended_by == "hook" and again.reply == "ECHO: after the interruption"


# ----------------------------------------------------------------------------- 10. --settings


def test_users_own_settings_file_keeps_working(real: Real, tmp_path: Path) -> None:
    marker = tmp_path / "user-stop-hook.txt"
    user_settings = tmp_path / "my settings.json"
    user_settings.write_text(json.dumps({
        "env": {"FOO": "bar"},
        "hooks": {"Stop": [{"hooks": [{
            "type": "command",
            "command": f"printf 'stop FOO=%s\\n' \"$FOO\" >> '{marker}'",
        }]}]},
    }))
    cmd = ("claude --dangerously-skip-permissions --setting-sources user "
           f"--settings '{user_settings}'")
    sess = real.session(claude_cmd=cmd)
    r = run_turn(sess, "hello with my settings")
    assert r.ended_by == "hook", r
    assert r.reply == "ECHO: hello with my settings"
    assert wait_until(marker.exists, 5), "the user's own Stop hook did not run"
    assert marker.read_text().splitlines() == ["stop FOO=bar"]
    # The user's file is left as it was.
    assert "claude-orchestrator" not in user_settings.read_text()


# ----------------------------------------------------------------------------- 11. queued


def test_message_sent_while_claude_is_busy_is_submitted_once(real: Real) -> None:
    sess = real.session()
    sess.ensure_ready()
    real.api.push(Reply("the first, slow reply", duration=3))
    # A person types a message into the pane; while its reply streams, the orchestrator sends.
    real.tmux("send-keys", "-t", f"={SESSION}:", "-l", "typed by a person")
    time.sleep(0.3)
    real.tmux("send-keys", "-t", f"={SESSION}:", "Enter")
    real.api.wait_for_requests(1, timeout=30, finished=False)
    time.sleep(0.3)
    r = run_turn(sess, "sent while busy")
    assert r.ended_by == "hook", r
    busy = real.api.requests[0]
    assert busy.finished_wall is not None and busy.finished_wall > r.sent_at  # it was busy
    assert r.confirmed_at is not None
    if claude_version() >= (2, 1, 332):  # accepted (queued) at once, answered after the busy turn
        assert r.confirmed_at < busy.finished_wall
    else:  # reported only when Claude takes it up
        assert r.confirmed_at >= busy.finished_wall
    assert r.ended_at is not None and r.ended_at >= busy.finished_wall
    assert r.reply == "ECHO: sent while busy"  # never the busy turn's reply
    time.sleep(1.0)
    assert real.conversation() == ["typed by a person", "sent while busy"]
    assert submits(sess).count("sent while busy") == 1
    assert r.enters == 1


# ----------------------------------------------------------------------------- 12. new edges


def test_chat_bash_command_runs_once_and_its_output_is_shown(real: Real) -> None:
    """`!cmd` in chat goes to Claude's bash mode: no submit event fires for it, its output is
    a turn of its own ending with a Stop. It runs once, and what it printed comes back."""
    sess = real.session()
    sess.ensure_ready()
    marker = real.work / "runs.txt"
    real.api.push("I see the output.")
    r = run_turn(sess, f"!echo ran >> {marker} && echo hello-from-bash", literal=False)
    assert r.ended_by == "hook", r
    assert r.output == "hello-from-bash"
    assert r.reply == "I see the output."
    time.sleep(1.0)
    assert marker.read_text() == "ran\n"  # once
    assert len(real.api.requests) == 1
    assert "<bash-stdout>hello-from-bash" in real.api.requests[0].texts[-1]
    after = run_turn(sess, "and now a prompt")
    assert after.reply == "ECHO: and now a prompt"


def test_queued_messages_merged_into_one_turn_get_that_turns_reply(real: Real) -> None:
    """A person's message and ours, both sent while Claude works, are taken up together as one
    turn (both releases): ours gets that turn's reply, never the busy turn's."""
    sess = real.session()
    sess.ensure_ready()
    real.api.push(Reply("the busy turn's reply", duration=4), "the merged turn's reply")
    real.tmux("send-keys", "-t", f"={SESSION}:", "-l", "first, by a person")
    time.sleep(0.3)
    real.tmux("send-keys", "-t", f"={SESSION}:", "Enter")
    real.api.wait_for_requests(1, timeout=30, finished=False)
    real.tmux("send-keys", "-t", f"={SESSION}:", "-l", "second, by a person")
    time.sleep(0.3)
    real.tmux("send-keys", "-t", f"={SESSION}:", "Enter")
    time.sleep(0.5)
    r = run_turn(sess, "third, ours")
    assert r.ended_by == "hook", r
    assert r.reply == "the merged turn's reply"
    merged = real.api.requests[1]
    assert merged.texts[-1] == "third, ours"
    assert [t.strip() for t in merged.texts[-3:-1]] == ["first, by a person",
                                                        "second, by a person"]
    assert len(real.api.requests) == 2
    assert submits(sess).count("third, ours") == 1
