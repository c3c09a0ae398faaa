"""--notify with Apprise against a local endpoint (`json://127.0.0.1:PORT/...`): a run's end,
a run that needs a person, a usage-limit pause's start and end (the real Claude Code on the
fake Anthropic API), a batch's one summary; a failing or hanging endpoint never stops a run;
the URL's token is never printed or stored."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_orchestrator.runlog import RunLog
from tests.fakes.claude_env import claude_env, prepare_home
from tests.fakes.fake_anthropic import FakeAnthropic
from tests.fakes.fake_openai import FakeOpenAI, Reply
from tests.fakes.notify_sink import NotifySink
from tests.integration.conftest import FAKE_AGENT, fake_agent_cmd, run_cli, wait_until
from tests.integration.test_real_claude_unattended import subscriber_limit

KEY = "sk-or-v1-NOTIFYTEST-5ecr3t-0a1b2c3d4e5f6a7b8c9d0e1f"
TOKEN = "notifytoken-7f3e9a1c5b2d4e6f"  # the secret part of the notification URL
DONE = "Summary: done.\nTASK_COMPLETE"


@pytest.fixture
def supervisor() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def env(cli_env: dict[str, str], supervisor: FakeOpenAI) -> dict[str, str]:
    return dict(cli_env, OPENROUTER_API_KEY=KEY, OPENROUTER_BASE_URL=supervisor.base_url)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def auto(socket: str, work: Path, task: str, *extra: str) -> list[str]:
    return ["--task", task, "--socket", socket, "--agent", "claude", "--claude-cmd",
            fake_agent_cmd(), "--terminate-when-quit", *extra, str(work)]


def no_token_anywhere(env: dict[str, str], *outputs: str) -> None:
    for text in outputs:
        assert TOKEN not in text
    log = Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])
    for path in log.parent.glob(log.name + "*"):
        assert TOKEN.encode() not in path.read_bytes(), path


def test_a_runs_end_is_one_notification_without_a_secret(
        env: dict[str, str], socket_name: str, work: Path, supervisor: FakeOpenAI) -> None:
    supervisor.enqueue(Reply(f"say the key {KEY}"), Reply(DONE))
    with NotifySink() as sink:
        proc = run_cli(auto(socket_name, work, "Notify me at the end", "--notify",
                            sink.url(f"hook/{TOKEN}")), env)
        assert proc.returncode == 0, proc.stderr
        assert wait_until(lambda: len(sink.received) >= 1, 5)
        time.sleep(0.5)  # nothing more comes
    assert sink.titles() == ["complete: Notify me at the end"]
    body = sink.received[0]["message"]
    assert "run " in body and "cost: $" in body and "an estimate" in body
    assert KEY not in json.dumps(sink.received) and KEY[:16] not in json.dumps(sink.received)
    assert sink.received[0]["path"] == f"/hook/{TOKEN}"
    no_token_anywhere(env, proc.stdout, proc.stderr)
    with RunLog(Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])) as log:
        run = log.list_runs()[0]
    assert run.settings["notify"] == "json://[REDACTED]"
    shown = run_cli(["show", run.id], env, timeout=30)
    assert "json://[REDACTED]" in shown.stdout and TOKEN not in shown.stdout


def test_a_run_that_stops_for_a_person_says_so_with_its_command(
        env: dict[str, str], socket_name: str, work: Path, supervisor: FakeOpenAI) -> None:
    supervisor.enqueue(Reply("one"), Reply("two"), Reply("three"))
    with NotifySink() as sink:
        proc = run_cli(auto(socket_name, work, "Stop short", "--max-iterations", "2"),
                       {**env, "CLAUDE_ORCHESTRATOR_NOTIFY": sink.url(TOKEN)})
        assert proc.returncode == 3, proc.stderr
        assert wait_until(lambda: len(sink.received) >= 1, 5)
        time.sleep(0.5)
    assert sink.titles() == ["needs you: Stop short"]
    body = sink.received[0]["message"]
    assert "budget" in body and "--max-iterations 4" in body
    no_token_anywhere(env, proc.stdout, proc.stderr)


@pytest.mark.parametrize("sink_kind", ["failing", "hanging"])
def test_a_failing_notifier_is_one_line_and_never_stops_the_run(
        env: dict[str, str], socket_name: str, work: Path, supervisor: FakeOpenAI,
        sink_kind: str) -> None:
    supervisor.enqueue(Reply("hello"), Reply(DONE))
    sink = NotifySink(status=500) if sink_kind == "failing" else NotifySink(hang=60)
    with sink:
        started = time.monotonic()
        proc = run_cli(auto(socket_name, work, "Notify a broken endpoint", "--notify",
                            sink.url(TOKEN)), env, timeout=120)
        took = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    said = [ln for ln in proc.stderr.splitlines() if "notification" in ln]
    assert len(said) == 1 and "json://[REDACTED]" in said[0] and "the run goes on" in said[0]
    assert len(sink.received) >= 1  # it was tried
    no_token_anywhere(env, proc.stdout, proc.stderr)
    print(f"the run took {took:.1f}s with a {sink_kind} notifier")


def test_notify_without_apprise_or_with_an_unknown_url_exits_2(
        env: dict[str, str], socket_name: str, work: Path, tmp_path: Path) -> None:
    unknown = run_cli(auto(socket_name, work, "x", "--notify", "nosuchservice://abc"), env)
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1
    assert "nosuchservice://[REDACTED]" in unknown.stderr and "abc" not in unknown.stderr
    # An interpreter where Apprise cannot be imported (a package of that name that fails).
    shadow = tmp_path / "shadow" / "apprise"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named apprise')\n")
    env = {**env, "PYTHONPATH": f"{shadow.parent}:{env.get('PYTHONPATH', '')}"}
    missing = run_cli(auto(socket_name, work, "x", "--notify", "json://127.0.0.1:9/"), env)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "pip install 'claude-orchestrator[notify]'" in missing.stderr


def test_a_batch_sends_one_summary_and_its_runs_that_need_you(
        env: dict[str, str], socket_name: str, tmp_path: Path, supervisor: FakeOpenAI) -> None:
    """Two tasks: one completes, one runs out of iterations. Two notifications: the stopped
    run as it stops, and the batch's summary; no run sends its own end."""
    def says(request: dict[str, object]) -> str:
        messages = request["messages"]
        assert isinstance(messages, list)
        first = str(messages[1]["content"])
        answered = sum(m["role"] == "assistant" for m in messages)
        if "Task done" in first:
            return "hello" if answered == 0 else DONE
        return f"more {answered}"

    supervisor.responder = says
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    with NotifySink() as sink:
        tasks = tmp_path / "tasks.toml"
        tasks.write_text(
            f'agent = "claude"\nclaude_cmd = "{sys.executable} {FAKE_AGENT}"\n'
            f'notify = ["{sink.url(TOKEN)}"]\n'
            f'\n[[task]]\ntask = "Task done"\nworkdir = "a"\n'
            f'\n[[task]]\ntask = "Task short"\nworkdir = "b"\nmax_iterations = 2\n')
        proc = run_cli(["batch", str(tasks), "--socket", socket_name], env, timeout=240)
        assert proc.returncode == 3, proc.stderr
        assert wait_until(lambda: len(sink.received) >= 2, 10)
        time.sleep(1)
    titles = sink.titles()
    assert titles == ["needs you: Task short", "batch ended: 1 of 2 complete"], titles
    summary = sink.received[1]["message"]
    assert "1 budget, 1 complete" in summary and "--max-iterations 4" in summary
    no_token_anywhere(env, proc.stdout, proc.stderr)
    for log in (Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"]).parent / "batches").rglob("*.log"):
        assert TOKEN not in log.read_text()


@pytest.mark.realcli
def test_a_usage_limit_pause_is_told_when_it_starts_and_ends(
        tmp_path: Path, socket_name: str, cli_env: dict[str, str],
        supervisor: FakeOpenAI) -> None:
    """The real Claude Code hits a subscriber's usage limit that resets in a few seconds: one
    notification as the pause starts (with its reset time), one as the run goes on, one at
    the end."""
    work = tmp_path / "work"
    work.mkdir()
    with FakeAnthropic() as api, NotifySink() as sink:
        api.push(subscriber_limit(reset_in=5))
        home = prepare_home(tmp_path / "home", "sk-ant-api03-notify-test-0123456789abcdef",
                            trusted_dirs=[work])
        env = claude_env(home, api.base_url, "sk-ant-api03-notify-test-0123456789abcdef",
                         base=cli_env)
        del env["ANTHROPIC_API_KEY"]
        env.update(CLAUDE_CODE_OAUTH_TOKEN="fake-oauth-token-for-tests",
                   CLAUDE_CODE_SUBSCRIPTION_TYPE="max", OPENROUTER_API_KEY=KEY,
                   OPENROUTER_BASE_URL=supervisor.base_url, TZ="UTC")
        supervisor.enqueue(Reply("build it"), Reply(DONE))
        proc = run_cli(["--task", "Wait out a limit", "--socket", socket_name,
                        "--terminate-when-quit", "--notify", sink.url(TOKEN), str(work)],
                       env, timeout=400)
        assert proc.returncode == 0, proc.stderr
        assert wait_until(lambda: len(sink.received) >= 3, 10)
    titles = sink.titles()
    assert len(titles) == 3, titles
    assert titles[0].startswith("paused until ") and titles[0].endswith(": Wait out a limit")
    assert "usage limit" in sink.received[0]["message"]
    assert titles[1:] == ["going on: Wait out a limit", "complete: Wait out a limit"]
