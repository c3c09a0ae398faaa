"""The public API: the README's example runs as written (against the real Claude Code on the
fake Anthropic API, and the fake supervisor), and Session's own promises."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from claude_orchestrator import RunResult, Session, Turn, run_task
from claude_orchestrator.errors import ConfigError
from tests.fakes.claude_env import claude_env, prepare_home
from tests.fakes.fake_anthropic import FakeAnthropic
from tests.fakes.fake_openai import FakeOpenAI, Reply
from tests.integration.conftest import FAKE_AGENT, logged_texts
from tests.integration.realcli import API_KEY

README = Path(__file__).resolve().parents[2] / "README.md"
KEY = "sk-or-v1-API-TEST-0123456789abcdefabcdef"


def readme_example() -> str:
    text = README.read_text()
    section = text[text.index("## Use it from Python"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


@pytest.mark.realcli
def test_the_readme_example_runs_as_written(tmp_path: Path, socket_name: str,
                                            cli_env: dict[str, str]) -> None:
    home = tmp_path / "home"
    project = home / "src" / "project"
    project.mkdir(parents=True)
    (project / "main.py").write_text("print('hello')\n")
    (project / "test_main.py").write_text("def test_ok():\n    assert True\n")
    prepare_home(home, API_KEY, trusted_dirs=[project])
    with FakeAnthropic() as api, FakeOpenAI() as supervisor:
        supervisor.enqueue(Reply("add a --verbose flag to main.py"),
                           Reply("Added the flag.\nTASK_COMPLETE", cost=0.02))
        env = claude_env(home, api.base_url, API_KEY, base=cli_env)
        env.update(OPENROUTER_API_KEY=KEY, OPENROUTER_BASE_URL=supervisor.base_url,
                   CLAUDE_TMUX_SOCKET=socket_name,
                   PATH=f"{Path(sys.executable).parent}:{env['PATH']}")
        proc = subprocess.run([sys.executable, "-c", readme_example()], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=180)
        asked = [r.last_user_text for r in api.requests]
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("ECHO: explain main.py hook ")  # reply, ended_by, timings
    assert "complete" in lines[-1] and re.search(r"\d{8}-\d{6}-[0-9a-f]{4}$", lines[-1])
    assert asked == ["explain main.py", "add a --verbose flag to main.py"]


def test_settings_are_named_like_the_flags(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown setting 'max_costs'"):
        Session(tmp_path, max_costs=5)
    with pytest.raises(ConfigError):
        run_task("x", workdir=tmp_path / "missing")


def test_a_session_sends_and_records(tmp_path: Path, socket_name: str, cli_env: dict[str, str],
                                     agent_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in cli_env.items():
        monkeypatch.setenv(name, value)
    with Session(tmp_path, socket=socket_name, agent="generic",
                 claude_cmd=f"{sys.executable} {FAKE_AGENT}", terminate_when_quit=True) as s:
        turn = s.send("hello from python")
        assert isinstance(turn, Turn) and turn.reply == "ECHO: hello from python"
        assert s.nothing_to_send("\x07") and s.send("\x07").ended_by == "nothing-to-send"
        run_id = s.run_id
    assert logged_texts(agent_log) == ["hello from python"]
    from claude_orchestrator.runlog import RunLog

    with RunLog(Path(cli_env["CLAUDE_ORCHESTRATOR_RUNLOG"])) as log:
        record = log.get_run(run_id or "")
        turns = log.turns(record.id)
    assert record.mode == "chat" and record.status == "quit"
    assert [(t.source, t.reply) for t in turns] == [("api", "ECHO: hello from python")]
    assert RunResult.__dataclass_fields__.keys() >= {"status", "summary", "cost_usd", "run_id"}
