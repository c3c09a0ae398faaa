"""The real Codex CLI and Gemini CLI (the pinned releases), offline against fake APIs on
127.0.0.1 that the tests own, each test once per CLI: first run in a new git folder, a
multi-line message confirmed and answered exactly, a message sent while it works, the agent
killed and resumed with its conversation, a 500, a refused key (exit 5), a usage limit (a
pause, then the message once more), an autonomous run to TASK_COMPLETE, teardown of the whole
process tree, tokens from their session files. Every test runs with CI=true and
GITHUB_ACTIONS=true, as on a CI machine.

The test command runs these in a network namespace with only loopback (othercli.require fails
a test that could reach the network).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from claude_orchestrator.agents.limits import Failure, failure_kind
from claude_orchestrator.runlog import RunLog
from claude_orchestrator.runtime.tmux import group_alive
from claude_orchestrator.turn import run_turn
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.fake_openai import Reply as SupervisorReply
from tests.fakes.fake_sse import Reply
from tests.integration.conftest import run_cli, wait_until
from tests.integration.othercli import World
from tests.integration.realcli import notes

pytestmark = pytest.mark.realcli

TRUST_NOTE = {"codex": "accepted Codex's folder-trust question",
              "gemini": "accepted Gemini's folder-trust question"}


def submits(sess_world: World, sess: object) -> list[str]:
    from claude_orchestrator.session import AgentSession

    assert isinstance(sess, AgentSession) and sess.channel is not None
    return [str(ev.payload.get("prompt", "")) for ev in sess.channel.read_all()
            if ev.name == "UserPromptSubmit"]


def test_first_run_in_a_new_git_folder_answers_its_dialogs(new_folder: World) -> None:
    w = new_folder
    sess = w.session()
    sess.ensure_ready()
    assert any(TRUST_NOTE[w.agent] in n for n in notes(sess)), notes(sess)
    r = run_turn(sess, "hello there")
    assert r.ended_by == "hook", r
    assert r.reply == "ECHO: hello there"
    assert r.enters == 1
    # Our hooks never went into the user's files; the agent kept its own trust answer there.
    if w.agent == "codex":
        config = (w.home / ".codex" / "config.toml").read_text()
        assert "session-flags" not in config and "hooks" not in config
        assert str(w.work.resolve()) in config and "trusted" in config
    else:
        settings = (w.home / ".gemini" / "settings.json").read_text()
        assert "hooks" not in settings
        trusted = json.loads((w.home / ".gemini" / "trustedFolders.json").read_text())
        assert trusted.get(str(w.work.resolve())) == "TRUST_FOLDER"


def test_multi_line_messages_are_confirmed_and_answered_exactly(world: World) -> None:
    w = world
    sess = w.session()
    text = "first line with `code` and *stars*\n\tindented by a tab\n\nlast line"
    r = run_turn(sess, text)
    assert r.ended_by == "hook", r
    assert r.received_text == text  # the prompt hook's own copy
    assert r.reply == f"ECHO: {text}"  # exact: the screen renders the markdown
    assert r.confirmed_at is not None and r.enters == 1
    second = run_turn(sess, "and a second one")
    assert second.reply == "ECHO: and a second one"
    assert w.conversation() == [text, "and a second one"]
    assert sess.session_id, "the session id comes from the hooks"


def test_a_message_sent_while_it_works_is_submitted_once_and_gets_its_reply(
        world: World) -> None:
    """Codex joins it to the running turn (one Stop answers both), Gemini queues it and runs
    it next: either way it is submitted once and its reply is the answer to it."""
    w = world
    sess = w.session()
    sess.ensure_ready()
    w.api.push(Reply("the first, slow reply", duration=4))
    w.type_at_pane("typed by a person")
    w.api.wait_for_requests(1, timeout=60, finished=False)
    time.sleep(0.5)
    r = run_turn(sess, "sent while busy")
    assert r.ended_by == "hook", r
    assert r.reply == "ECHO: sent while busy"
    assert submits(w, sess).count("sent while busy") == 1
    assert w.conversation()[-1] == "sent while busy"
    assert w.api.requests[-1].texts[-2:] == ["typed by a person", "sent while busy"]
    assert r.enters == 1


def test_killed_it_is_resumed_with_its_conversation(world: World) -> None:
    w = world
    sess = w.session()
    first = run_turn(sess, "remember the word kiwi")
    assert first.reply == "ECHO: remember the word kiwi"
    conversation = sess.session_id
    old_group = sess.runtime.pane_pid
    assert conversation and old_group
    w.tmux("kill-server")  # Gemini lives on after SIGHUP: the restart must end it first
    r = run_turn(sess, "what was the word?")
    assert r.ended_by == "hook", r
    assert r.reply == "ECHO: what was the word?"
    assert any("restarted with the conversation resumed" in n for n in notes(sess)), notes(sess)
    last = w.api.requests[-1]
    assert last.texts[-2:] == ["remember the word kiwi", "what was the word?"]
    assert sess.session_id == conversation
    assert not group_alive(old_group)  # nothing of the first agent runs (zombies aside)
    assert submits(w, sess).count("remember the word kiwi") == 1


@pytest.mark.parametrize("agent", ["codex"], indirect=True)
def test_a_500_that_codex_gives_up_on_ends_the_turn_as_a_server_error(world: World) -> None:
    """No hook fires when Codex's API fails: its session file says so (`task_complete` with an
    error), read once the screen is idle, and the turn ends as Claude's StopFailure would."""
    w = world
    sess = w.session()
    w.api.reply_for = lambda text: (Reply(status=500, error_message="the fake API broke")
                                    if "fail" in text else Reply(f"ECHO: {text}"))
    r = run_turn(sess, "please fail now")
    assert r.ended_by == "api-error", r
    assert r.error == "server_error"
    assert failure_kind(r.error) is Failure.TRANSIENT
    assert w.api.requests and all(req.status == 500 for req in w.api.requests)
    after = run_turn(sess, "and now it works")
    assert after.ended_by == "hook" and after.reply == "ECHO: and now it works"


@pytest.mark.parametrize("agent", ["gemini"], indirect=True)
def test_a_500_that_gemini_retries_is_waited_out_and_answered_once(world: World) -> None:
    """Gemini retries a 5xx by itself (no hook, no sign on screen but its spinner): the turn
    is busy meanwhile, and ends with the reply once the API answers; nothing is sent twice."""
    w = world
    sess = w.session()
    sess.ensure_ready()
    w.api.fail_next(2, status=500, message="the fake API broke")
    r = run_turn(sess, "answer after two failures")
    assert r.ended_by == "hook", r
    assert r.reply == "ECHO: answer after two failures"
    assert [req.status for req in w.api.requests] == [500, 500, 200]
    assert submits(w, sess) == ["answer after two failures"]


Ran = tuple[subprocess.CompletedProcess[str], int, dict[str, str]]


def autonomous(w: World, replies: list[str], task: str, *flags: str,
               timeout: float = 240) -> Ran:
    """The installed command with the agent's own command line and no --agent flag, its
    supervisor answering `replies`: the finished process, the supervisor calls it made, and
    the environment it ran with (its run log)."""
    env = dict(w.env)
    with FakeOpenAI() as supervisor:
        supervisor.enqueue(*(SupervisorReply(r) for r in replies))
        env.update(OPENROUTER_API_KEY="sk-or-v1-agents-test-0123456789abcdef",
                   OPENROUTER_BASE_URL=supervisor.base_url, CLAUDE_CMD=w.command)
        proc = run_cli(["--task", task, "--socket", w.socket, *flags,
                        "--terminate-when-quit", str(w.work)], env, timeout=timeout)
        return proc, len(supervisor.requests), env


def test_an_autonomous_task_runs_to_task_complete_and_leaves_nothing_running(
        world: World) -> None:
    """The installed command with the agent's own command line and no --agent flag: the
    profile is chosen by the command's name; its tokens come from its session file."""
    w = world
    proc, _, env = autonomous(w, ["write the plan", "Summary: done.\nTASK_COMPLETE"],
                              "Plan the work.")
    assert proc.returncode == 0, proc.stderr
    with RunLog(Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])) as log:
        run = log.list_runs()[0]
        turns = log.turns(run.id)
    assert run.status == "complete"
    assert [t.reply for t in turns] == ["ECHO: write the plan"]
    assert turns[0].ended_by == "hook"
    assert turns[0].claude_tokens > 0 and run.claude_cost_usd > 0
    assert wait_until(lambda: not w.leftovers(), 10), w.leftovers()


def test_teardown_ends_the_whole_process_tree(world: World) -> None:
    w = world
    sess = w.session()
    run_turn(sess, "hello")
    assert any(f".cache/{w.agent}/" in ln for ln in w.leftovers()), w.leftovers()
    sess.close(terminate=True)
    assert wait_until(lambda: not w.leftovers(), 10), w.leftovers()


@pytest.mark.parametrize("agent", ["codex"], indirect=True)
def test_codexs_title_request_never_ends_a_users_turn(world: World) -> None:
    """Codex asks the API for a thread title beside the first message; answered first, it
    fires no Stop and its text is never the reply."""
    w = world
    sess = w.session()
    w.api.push(Reply("the real reply", duration=3))
    r = run_turn(sess, "a first message")
    assert r.reply == "the real reply", r
    assert w.api.side_requests, "Codex asked for no title"


def test_turn_tokens_are_read_from_the_session_file(world: World) -> None:
    w = world
    sess = w.session()
    w.api.push(Reply("counted", usage=(1200, 34, 1000)))
    r = run_turn(sess, "count me")
    assert r.transcript is not None
    deadline = time.monotonic() + 10
    work = sess.agent.turn_work(*r.transcript, prompt=r.received_text, reply=r.reply)
    while not work.done and time.monotonic() < deadline:
        time.sleep(0.1)
        work = sess.agent.turn_work(*r.transcript, prompt=r.received_text, reply=r.reply)
    assert work.done
    [tokens] = work.tokens
    assert (tokens.input, tokens.cache_read, tokens.output) == (200, 1000, 34)
    assert tokens.model



def test_a_refused_key_stops_the_run_with_exit_5_and_the_agents_words(world: World) -> None:
    """A 401 is no transient error: the turn ends as `authentication_failed` (Codex says so in
    its session file, Gemini in an `error` entry of its own), and the installed command stops
    with exit 5, naming the agent, instead of waiting or sending the message again."""
    w = world
    w.api.reply_for = lambda text: (Reply(status=401, error_message="API key not valid")
                                    if "key" in text else Reply(f"ECHO: {text}"))
    proc, calls, env = autonomous(w, ["use the refused key"], "Plan the work.")
    title = {"codex": "Codex", "gemini": "Gemini CLI"}[w.agent]
    assert proc.returncode == 5, proc.stderr
    assert f"{title}'s API refuses (authentication_failed)" in proc.stderr, proc.stderr
    assert "API key not valid" in proc.stderr
    assert calls == 1  # the supervisor is not asked what to do about a refused key
    asked = {r.last_user_text for r in w.api.requests if r.status == 401}
    assert asked == {"use the refused key"}, asked
    with RunLog(Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])) as log:
        run = log.list_runs()[0]
    assert run.status == "failed" and run.exit_code == 5
    assert wait_until(lambda: not w.leftovers(), 10), w.leftovers()



# A usage limit as each API says it: OpenAI's 429 (Codex gives up after its retries); Google's
# daily quota (Gemini retries a plain 429 every few seconds by itself, but not this).
LIMIT = {"codex": Reply(status=429, error_message="Rate limit reached for requests"),
         "gemini": Reply(status=429, error_message="Quota exceeded for quota metric",
                         details=({"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                                   "violations": [{"quotaId": "GenerateRequestsPerDay"}]},))}


def test_a_usage_limit_pauses_the_run_and_the_message_goes_again_once(world: World) -> None:
    """A usage limit the agent gives up on ends the turn as `rate_limit`: the run pauses
    (--limit-wait, plus the minute every limit gets: these name no reset time) instead of
    failing, then sends the same message once more and goes on."""
    w = world
    refused: list[str] = []

    def reply_for(text: str) -> Reply:
        if "build" in text and not refused:
            refused.append(text)
            return LIMIT[w.agent]
        return Reply(f"ECHO: {text}")

    w.api.reply_for = reply_for
    proc, calls, env = autonomous(w, ["build it", "Summary: built.\nTASK_COMPLETE"],
                                  "Build it.", "--limit-wait", "1s", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert calls == 2
    assert refused == ["build it"]
    assert [r.status for r in w.api.requests if r.last_user_text == "build it"][:2] == [429, 200]
    with RunLog(Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])) as log:
        run = log.list_runs()[0]
        turns = log.turns(run.id)
    assert [t.reply for t in turns] == ["ECHO: build it"]
    show = run_cli(["show", run.id], env, timeout=30).stdout
    assert "paused: usage limit" in show, show
