"""Seeing, reviewing and merging what a run did (issue 19), against the real Claude Code on
the fake API: the tools Claude used in `show`, the work committed on the run's branch, and
review, merge and clean on the person's repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.fake_anthropic import FakeAnthropic
from tests.fakes.fake_anthropic import Reply as ClaudeReply
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.fake_openai import Reply as SupervisorReply
from tests.integration.conftest import run_cli
from tests.integration.test_real_claude_unattended import DONE, auto, the_run, world

pytestmark = pytest.mark.realcli


@pytest.fixture
def supervisor() -> FakeOpenAI:
    with FakeOpenAI() as fake:
        yield fake  # type: ignore[misc]


def bash(command: str, text: str = "") -> ClaudeReply:
    return ClaudeReply(text, tool_use={"name": "Bash",
                                       "input": {"command": command, "description": "run"}})


def test_show_names_the_commands_claude_ran_and_the_files_it_wrote(
        tmp_path: Path, socket_name: str, cli_env: dict[str, str],
        supervisor: FakeOpenAI) -> None:
    with FakeAnthropic() as api:
        work, env = world(tmp_path, api, supervisor, cli_env)
        api.push(bash("echo hi > out.txt", "I will write it."),
                 ClaudeReply(tool_use={"name": "Write", "input": {
                     "file_path": str(work / "notes.md"), "content": "# notes\n"}}),
                 ClaudeReply("Both written."))
        supervisor.enqueue(SupervisorReply("write out.txt and notes.md"), SupervisorReply(DONE))
        code, _, err = auto(socket_name, work, env)
    assert code == 0, err
    assert (work / "out.txt").read_text() == "hi\n"
    shown = run_cli(["show", the_run(env)], env, timeout=30)
    assert shown.returncode == 0, shown.stderr
    assert "  Claude ran: $ echo hi > out.txt" in shown.stdout, shown.stdout
    assert f"  Claude wrote: {work / 'notes.md'}" in shown.stdout, shown.stdout
