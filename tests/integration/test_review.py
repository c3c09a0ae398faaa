"""Seeing, reviewing and merging what a run did (issue 19), against the real Claude Code on
the fake API: the tools Claude used in `show`, the work committed on the run's branch, and
review, merge and clean on the person's repository."""

from __future__ import annotations

import subprocess
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


def test_a_run_in_place_is_reviewed_against_the_commit_it_started_from(
        tmp_path: Path, socket_name: str, cli_env: dict[str, str],
        supervisor: FakeOpenAI) -> None:
    """Outside a batch the run works in the folder itself: review shows the folder against
    the commit it started from (and the files git does not track yet); merge and clean say
    there is no branch."""
    with FakeAnthropic() as api:
        work, env = world(tmp_path, api, supervisor, cli_env)
        for args in (["init", "-q", "-b", "main"], ["add", "."],
                     ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
                      "--allow-empty", "-m", "start"]):
            subprocess.run(["git", "-C", str(work), *args], check=True, capture_output=True)
        (work / "kept.txt").write_text("one\n")
        subprocess.run(["git", "-C", str(work), "add", "kept.txt"], check=True)
        subprocess.run(["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@t",
                        "commit", "-qm", "kept"], check=True)
        api.push(bash("echo two >> kept.txt && echo new > fresh.txt"), ClaudeReply("Done."))
        supervisor.enqueue(SupervisorReply("change kept.txt, add fresh.txt"),
                           SupervisorReply(DONE))
        code, _, err = auto(socket_name, work, env)
    assert code == 0, err
    run_id = the_run(env)
    review = run_cli(["review", run_id], env)
    assert review.returncode == 0, review.stderr
    assert "worked in place" in review.stdout and "+two" in review.stdout
    assert "#   fresh.txt" in review.stdout
    for command in ("merge", "clean"):
        said = run_cli([command, run_id], env)
        if command == "merge":
            assert said.returncode == 2 and "there is no branch to merge" in said.stderr
        else:
            assert said.returncode == 0 and "nothing to clean" in said.stdout
