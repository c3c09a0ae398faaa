"""Unattended runs against the real Claude Code CLI (both supported releases) and the fake
Anthropic API: usage limits waited out, API failures sorted by kind, the check before
TASK_COMPLETE, a supervisor that repeats itself, both sides' cost.

Time-based waits use a reset a few seconds ahead (Claude names it to the minute; the pause is
until then plus a minute), never a shortened sleep in the product.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from claude_orchestrator.agents.prices import Tokens, price
from claude_orchestrator.runlog import RunLog
from tests.fakes.claude_env import claude_env, claude_version, prepare_home
from tests.fakes.fake_anthropic import FakeAnthropic
from tests.fakes.fake_anthropic import Reply as ClaudeReply
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.fake_openai import Reply as SupervisorReply
from tests.integration.conftest import run_cli, wait_until

pytestmark = pytest.mark.realcli

KEY = "sk-or-v1-UNATTENDED-5ecr3t-0a1b2c3d4e5f6a7b8c9d"
ANTHROPIC_KEY = "sk-ant-api03-unattended-test-key-0123456789abcdef"
TASK = "Write hello.py and check it."
DONE = "Summary: done.\nTASK_COMPLETE"
AUTO_RESUME = "Your claude.ai usage limit has reset."


@pytest.fixture
def supervisor() -> FakeOpenAI:
    with FakeOpenAI() as fake:
        yield fake  # type: ignore[misc]


def world(tmp_path: Path, api: FakeAnthropic, supervisor: FakeOpenAI, cli_env: dict[str, str],
          *, subscriber: bool = False) -> tuple[Path, dict[str, str]]:
    """A work folder and the CLI's environment: Claude on the fake API (an API key, or a
    subscriber's login), the supervisor on the fake OpenAI."""
    work = tmp_path / "work"
    work.mkdir()
    home = prepare_home(tmp_path / "home", ANTHROPIC_KEY, trusted_dirs=[work])
    env = claude_env(home, api.base_url, ANTHROPIC_KEY, base=cli_env)
    if subscriber:
        del env["ANTHROPIC_API_KEY"]
        env.update(CLAUDE_CODE_OAUTH_TOKEN="fake-oauth-token-for-tests",
                   CLAUDE_CODE_SUBSCRIPTION_TYPE="max")
    env.update(OPENROUTER_API_KEY=KEY, OPENROUTER_BASE_URL=supervisor.base_url, TZ="UTC")
    return work, env


def auto(socket: str, work: Path, env: dict[str, str], *extra: str,
         timeout: float = 400) -> tuple[int, str, str]:
    proc = run_cli(["--task", TASK, "--socket", socket, "--terminate-when-quit", *extra,
                    str(work)], env, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def the_run(env: dict[str, str]) -> str:
    with RunLog(Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])) as log:
        runs = log.list_runs()
    assert len(runs) == 1
    return runs[0].id


def subscriber_limit(reset_in: float) -> ClaudeReply:
    reset = int(time.time() + reset_in)
    return ClaudeReply(status=429, error_type="rate_limit_error",
                       error_message="You have reached your usage limit", headers=(
                           ("anthropic-ratelimit-unified-status", "rejected"),
                           ("anthropic-ratelimit-unified-reset", str(reset)),
                           ("anthropic-ratelimit-unified-representative-claim", "five_hour")))


# ----------------------------------------------------------------------------- usage limits
def test_a_subscribers_usage_limit_is_waited_out_and_the_turn_goes_on_once(
        tmp_path: Path, socket_name: str, cli_env: dict[str, str],
        supervisor: FakeOpenAI) -> None:
    """The limit ends Claude's turn mid-run: the run pauses until the reset (plus a minute) with
    no supervisor call and no iteration spent, then the interrupted turn goes on exactly once:
    2.1.332 goes on by itself (nothing is sent), 2.1.197 gets the same message again."""
    with FakeAnthropic() as api:
        api.push(subscriber_limit(reset_in=5))
        work, env = world(tmp_path, api, supervisor, cli_env, subscriber=True)
        supervisor.enqueue(SupervisorReply("build it"), SupervisorReply(DONE))
        code, _, err = auto(socket_name, work, env, "--max-iterations", "2")
        asked = [r.last_user_text for r in api.requests]
    assert code == 0, err
    assert "paused: usage limit, resumes" in err
    assert len(supervisor.requests) == 2  # none while paused
    run_id = the_run(env)
    with RunLog(Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])) as log:
        turns, pauses = log.turns(run_id), log.pauses(run_id)
    assert len(turns) == 1 and turns[0].message == "build it"
    assert [p.reason for p in pauses] == ["usage limit"] and pauses[0].ended_at is not None
    if claude_version() >= (2, 1, 332):
        assert asked == ["build it", asked[1]] and asked[1].startswith(AUTO_RESUME)
        assert turns[0].reply.startswith(f"ECHO: {AUTO_RESUME}")
    else:
        assert asked == ["build it", "build it"]  # the limit's, then once more
        assert turns[0].reply == "ECHO: build it"
    show = run_cli(["show", run_id], env, timeout=30).stdout
    assert "paused: usage limit" in show


def test_an_api_keys_429_is_waited_out_and_the_message_goes_again_once(
        tmp_path: Path, socket_name: str, cli_env: dict[str, str],
        supervisor: FakeOpenAI) -> None:
    """An API key's 429 names no reset time (a Retry-After over a minute: Claude does not retry
    it): the pause is --limit-wait plus a minute, then the same message once more."""
    with FakeAnthropic() as api:
        api.push(ClaudeReply(status=429, error_message="rate limited",
                             headers=(("retry-after", "120"),)))
        work, env = world(tmp_path, api, supervisor, cli_env)
        supervisor.enqueue(SupervisorReply("build it"), SupervisorReply(DONE))
        code, _, err = auto(socket_name, work, env, "--limit-wait", "2s")
        asked = [(r.last_user_text, r.status) for r in api.requests]
    assert code == 0, err
    assert asked == [("build it", 429), ("build it", 200)]
    assert len(supervisor.requests) == 2


def test_a_limit_past_max_pause_stops_with_3_and_resumes_into_the_pause(
        tmp_path: Path, socket_name: str, cli_env: dict[str, str],
        supervisor: FakeOpenAI) -> None:
    with FakeAnthropic() as api:
        api.push(ClaudeReply(status=429, error_message="rate limited",
                             headers=(("retry-after", "120"),)))
        work, env = world(tmp_path, api, supervisor, cli_env)
        supervisor.enqueue(SupervisorReply("build it"), SupervisorReply(DONE))
        code, _, err = auto(socket_name, work, env, "--limit-wait", "2h", "--max-pause", "1h")
        assert code == 3, err
        assert "--max-pause" in err
        resumed = run_cli(["resume", the_run(env), "--limit-wait", "1s", "--max-pause", "6h"],
                          env, timeout=200)
        assert resumed.returncode == 0, resumed.stderr
        asked = [(r.last_user_text, r.status) for r in api.requests]
    assert asked == [("build it", 429), ("build it", 200)]
    assert len(supervisor.requests) == 2


# ----------------------------------------------------------------------------- failures
def test_an_authentication_failure_in_claude_stops_with_5(
        tmp_path: Path, socket_name: str, cli_env: dict[str, str],
        supervisor: FakeOpenAI) -> None:
    refuse = ClaudeReply(status=401, error_type="authentication_error",
                         error_message="invalid x-api-key")
    with FakeAnthropic(lambda text: refuse) as api:
        work, env = world(tmp_path, api, supervisor, cli_env)
        # Claude tries a 401 again itself, 10 times over about 3 minutes (2.1.197); how often
        # is Claude's business, what the run does once Claude gives up is ours.
        env["CLAUDE_CODE_MAX_RETRIES"] = "1"
        supervisor.enqueue(SupervisorReply("build it"), SupervisorReply(DONE))
        code, _, err = auto(socket_name, work, env)
    assert code == 5, err
    assert "authentication_failed" in err and "Traceback" not in err
    assert len(supervisor.requests) == 1


# ----------------------------------------------------------------------------- done, or not
def bash(command: str) -> ClaudeReply:
    return ClaudeReply("", tool_use={"name": "Bash", "input": {"command": command,
                                                             "description": "run it"}})


def test_a_failing_check_keeps_the_run_going_until_it_passes(
        tmp_path: Path, socket_name: str, cli_env: dict[str, str],
        supervisor: FakeOpenAI) -> None:
    with FakeAnthropic() as api:
        work, env = world(tmp_path, api, supervisor, cli_env)
        api.push(bash("touch done.txt"), "done.txt is there.")
        supervisor.enqueue(SupervisorReply(DONE), SupervisorReply("please create done.txt"),
                           SupervisorReply(DONE))
        code, out, err = auto(socket_name, work, env, "--verify", "test -f done.txt && echo ok")
    assert code == 0, err
    told = supervisor.requests[1].json["messages"][-1]["content"]
    assert told.startswith('The check "test -f done.txt && echo ok" failed with status 1')
    assert "Summary: done." in out and "the check passed" in err
    run_id = the_run(env)
    with RunLog(Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])) as log:
        checks = log.verifications(run_id)
    assert [c.status for c in checks] == [1, 0] and checks[1].output == "ok"
    assert "=== check 2  exit 0" in run_cli(["show", run_id], env, timeout=30).stdout


def test_a_supervisor_that_repeats_itself_stops_with_6(
        tmp_path: Path, socket_name: str, cli_env: dict[str, str],
        supervisor: FakeOpenAI) -> None:
    with FakeAnthropic() as api:
        work, env = world(tmp_path, api, supervisor, cli_env)
        supervisor.enqueue(*[SupervisorReply("try  again\n") for _ in range(5)])
        code, out, err = auto(socket_name, work, env)
        asked = [r.last_user_text for r in api.requests]
    assert code == 6, err
    assert "the supervisor sent the same message 3 times in a row" in err
    assert "try  again" in out and "ECHO: try  again" in out  # both texts in the summary
    assert len(asked) == 2  # the third time it is not typed


# ----------------------------------------------------------------------------- cost
def test_the_cost_is_the_supervisors_plus_claudes_priced_tokens(
        tmp_path: Path, socket_name: str, cli_env: dict[str, str],
        supervisor: FakeOpenAI) -> None:
    with FakeAnthropic() as api:
        work, env = world(tmp_path, api, supervisor, cli_env)
        api.push(ClaudeReply("first answer", usage=(1200, 300, 4000, 250)),
                 ClaudeReply("second answer", usage=(800, 0, 5200, 100)))
        supervisor.enqueue(SupervisorReply("one", cost=0.01), SupervisorReply("two", cost=0.02),
                           SupervisorReply(DONE, cost=0.03))
        code, out, err = auto(socket_name, work, env, "--json")
        models = {r.body.get("model") for r in api.requests}
    assert code == 0, err
    data = json.loads(out)
    (model,) = models
    claude = sum((price(Tokens(model, i, o, w, r))[0]
                  for i, w, r, o in ((1200, 300, 4000, 250), (800, 0, 5200, 100))), 0.0)
    assert data["supervisor_cost_usd"] == pytest.approx(0.06)
    assert data["claude_cost_usd"] == pytest.approx(claude, rel=1e-6)
    assert data["cost_usd"] == pytest.approx(0.06 + claude, rel=1e-6)
    assert data["claude_tokens"] == 1200 + 300 + 4000 + 250 + 800 + 5200 + 100
    with RunLog(Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])) as log:  # each turn its own tokens
        assert [t.claude_tokens for t in log.turns(data["run_id"])] == [5750, 6100]


# ----------------------------------------------------------------------------- a person
class PersonAtThePane:
    """A person's terminal attached to the session through a pty (a real tmux client)."""

    def __init__(self, socket: str, env: dict[str, str]) -> None:
        import pty
        import threading

        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: a tmux client in a terminal
            os.execvpe("tmux", ["tmux", "-L", socket, "attach", "-t", "gt-claude-loop"],
                       dict(env, TERM="xterm-256color"))
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        with contextlib.suppress(OSError):
            while os.read(self.fd, 65536):
                pass

    def type(self, text: str, every: float = 0.4) -> None:
        for ch in text:
            os.write(self.fd, ch.encode())
            time.sleep(every)

    def detach(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self.fd, b"\x02d")  # Ctrl-b d
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(self.pid, 0)
        with contextlib.suppress(OSError):
            os.close(self.fd)


def test_a_person_typing_at_the_pane_is_never_interleaved_with_an_automated_paste(
        tmp_path: Path, socket_name: str, cli_env: dict[str, str],
        supervisor: FakeOpenAI) -> None:
    """A person attaches while Claude works and types a message of their own: the next
    automated message waits until they are done (idle, box empty), their message is recorded as
    theirs, and the supervisor is told what they said and what Claude answered."""
    def reply_for(text: str) -> ClaudeReply:
        return ClaudeReply("first done", duration=3) if text == "first" else ClaudeReply(
            f"ECHO: {text}")

    with FakeAnthropic(reply_for) as api:
        work, env = world(tmp_path, api, supervisor, cli_env)
        supervisor.enqueue(SupervisorReply("first"), SupervisorReply("second"),
                           SupervisorReply(DONE))
        proc = subprocess.Popen(
            [sys.executable, "-m", "claude_orchestrator", "--task", TASK, "--socket",
             socket_name, "--attach-idle", "2s", str(work)], env=env, text=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert wait_until(lambda: any(r.last_user_text == "first" for r in api.requests), 60)
        person = PersonAtThePane(socket_name, env)
        try:
            time.sleep(1.0)
            person.type("from a person", every=0.3)  # spans the end of the first turn
            time.sleep(1.0)
            person.type("\r", every=0)
            _, err = proc.communicate(timeout=120)
        finally:
            person.detach()
        asked = [r.last_user_text for r in api.requests]
    assert proc.returncode == 0, err
    assert asked == ["first", "from a person", "second"]  # whole, one after the other
    assert "paused: someone is typing at the pane" in err
    told = supervisor.requests[2].json["messages"][-1]["content"]
    assert "a person at Claude's terminal" in told and "from a person" in told
    assert "ECHO: from a person" in told
    with RunLog(Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])) as log:
        turns = log.turns(the_run(env))
    assert sorted((t.source, t.message) for t in turns) == [
        ("person", "from a person"), ("supervisor", "first"), ("supervisor", "second")]
