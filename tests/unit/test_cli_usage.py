"""Mistakes people make at the command line (issue 18 §7): one line naming the mistake and the
way out, exit 2, and nothing starts (a fake tmux and claude that fail if run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_orchestrator.errors import UsageError
from claude_orchestrator.flags import Parser
from tests.unit.test_cli_errors import FAKE_KEY, _assert_usage_error, _env, _run


@pytest.mark.parametrize(("args", "words"), [
    (["--max-iteratons", "3", "."], "unknown flag --max-iteratons; did you mean --max-iterations?"),
    (["--max-iter", "3"], "flags are never abbreviated: --max-iter could be --max-iterations"),
    (["--task", ""], "--task is empty"),
    (["--task", " \t\n "], "--task is empty"),
    (["--chat", "--task", "do it"], "chat mode (--chat, or AUTONOMOUS_MODE=false) takes no"),
    (["run"], "there is no folder 'run' here; did you mean the subcommand "
              "`claude-orchestrator runs`?"),
    (["shwo", "x"], "did you mean the subcommand `claude-orchestrator show`?"),
    (["runs", "--wacth"], "unknown flag --wacth; did you mean --watch?"),
    (["show"], "show takes RUN or --batch BATCH_ID"),
    (["batch", "--paralel", "2", "t.toml"], "unknown flag --paralel; did you mean --parallel?"),
])
def test_a_mistake_is_one_line_and_nothing_starts(args: list[str], words: str, tmp_path: Path,
                                                  cwd: Path, tools: Path) -> None:
    r = _run(args, cwd, _env(tmp_path, str(tools), OPENROUTER_API_KEY=FAKE_KEY))
    line = _assert_usage_error(r)
    assert words in line, line
    assert "usage:" not in r.stderr


def test_a_folder_named_like_a_subcommand_is_still_a_folder(tmp_path: Path, cwd: Path,
                                                           tools: Path) -> None:
    """`./run` exists: it is the folder, and the run goes on to look for tmux (which fails
    here, in one line of its own)."""
    (cwd / "run").mkdir()
    r = _run(["./run", "--chat"], cwd, _env(tmp_path, str(tools)))
    assert "did you mean" not in r.stderr


def test_a_flag_value_that_starts_with_a_dash_is_a_value() -> None:
    p = Parser(prog="x")
    p.add_argument("--task")
    p.add_argument("--quiet", action="store_true")
    assert p.parse_args(["--task", "-rf is dangerous", "--quiet"]).task == "-rf is dangerous"
    with pytest.raises(UsageError, match="unknown flag --quite; did you mean --quiet"):
        p.parse_args(["--quite"])


def test_the_chat_history_is_never_opened_through_a_link(tmp_path: Path) -> None:
    """A link planted where the history file goes (issue 17): the history stays in memory and
    the link's target is never written; a file of its own is made private."""
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    from claude_orchestrator.drivers.terminal import prompt_session

    target = tmp_path / "target"
    target.write_text("theirs\n")
    planted = tmp_path / "planted"
    planted.symlink_to(target)
    session = prompt_session(planted)
    assert isinstance(session.history, InMemoryHistory)
    assert target.read_text() == "theirs\n"
    own = tmp_path / "own"
    assert isinstance(prompt_session(own).history, FileHistory)
    assert own.stat().st_mode & 0o777 == 0o600
