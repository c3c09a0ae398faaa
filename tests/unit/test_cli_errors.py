"""The command line's usage errors: one line on stderr, no traceback, exit status 2.

Each case runs `python -m claude_orchestrator` in a fresh process with a controlled PATH and
environment (no tmux server is ever started: every case fails before that).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from claude_orchestrator.config import SETTINGS

FAKE_KEY = "sk-or-v1-UNITTEST-cli-fake-key-4b7d2e"
NPM_HINT = "claude not found on PATH: install it with npm install -g @anthropic-ai/claude-code"


def _script(folder: Path, name: str, body: str = "exit 0") -> Path:
    p = folder / name
    p.write_text(f"#!/bin/sh\n{body}\n")
    p.chmod(p.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return p


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    d = tmp_path / "cwd"
    d.mkdir()
    return d


@pytest.fixture
def tools(tmp_path: Path) -> Path:
    """A PATH folder with a fake tmux and a fake claude (neither is ever run by these tests:
    a run that got as far as starting them would fail the test by its exit status)."""
    d = tmp_path / "bin"
    d.mkdir()
    _script(d, "tmux", "exit 1")
    _script(d, "claude", "exit 1")
    return d


def _env(tmp_path: Path, path: str, **extra: str) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {"PATH": path, "HOME": str(home), "XDG_DATA_HOME": str(home / "data"),
           "XDG_STATE_HOME": str(home / "state"), "XDG_RUNTIME_DIR": str(home),
           "LANG": "C.UTF-8", "COLUMNS": "100", "PYTHONDONTWRITEBYTECODE": "1"}
    env.update(extra)
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "claude_orchestrator", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
                          check=False)


def _assert_usage_error(r: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().split("\n")
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("claude-orchestrator: error: "), r.stderr
    assert FAKE_KEY not in r.stderr + r.stdout
    return lines[0]


def test_missing_workdir(tmp_path: Path, cwd: Path, tools: Path) -> None:
    missing = tmp_path / "no-such-dir"
    r = _run([str(missing)], cwd, _env(tmp_path, str(tools), OPENROUTER_API_KEY=FAKE_KEY))
    assert str(missing) in _assert_usage_error(r)


def test_autonomous_mode_maybe(tmp_path: Path, cwd: Path, tools: Path) -> None:
    r = _run([], cwd, _env(tmp_path, str(tools), AUTONOMOUS_MODE="maybe",
                           OPENROUTER_API_KEY=FAKE_KEY))
    assert "AUTONOMOUS_MODE" in _assert_usage_error(r)


def test_autonomous_mode_maybe_from_dotenv(tmp_path: Path, cwd: Path, tools: Path) -> None:
    (cwd / ".env").write_text("AUTONOMOUS_MODE=maybe\n")
    r = _run([], cwd, _env(tmp_path, str(tools), OPENROUTER_API_KEY=FAKE_KEY))
    assert "AUTONOMOUS_MODE" in _assert_usage_error(r)


def test_max_iterations_negative(tmp_path: Path, cwd: Path, tools: Path) -> None:
    r = _run([], cwd, _env(tmp_path, str(tools), MAX_ITERATIONS="-1",
                           OPENROUTER_API_KEY=FAKE_KEY))
    assert "MAX_ITERATIONS" in _assert_usage_error(r)


@pytest.mark.parametrize("socket", ["a/b", "a b", "x;y"])
def test_bad_socket_name(tmp_path: Path, cwd: Path, tools: Path, socket: str) -> None:
    r = _run([], cwd, _env(tmp_path, str(tools), CLAUDE_TMUX_SOCKET=socket,
                           OPENROUTER_API_KEY=FAKE_KEY))
    assert "CLAUDE_TMUX_SOCKET" in _assert_usage_error(r)


def test_bad_socket_flag(tmp_path: Path, cwd: Path, tools: Path) -> None:
    r = _run(["--socket", "a/b"], cwd, _env(tmp_path, str(tools), OPENROUTER_API_KEY=FAKE_KEY))
    assert "--socket" in _assert_usage_error(r)


def test_missing_claude_executable(tmp_path: Path, cwd: Path) -> None:
    only_tmux = tmp_path / "only-tmux"
    only_tmux.mkdir()
    _script(only_tmux, "tmux", "exit 1")
    r = _run([], cwd, _env(tmp_path, str(only_tmux), OPENROUTER_API_KEY=FAKE_KEY))
    assert _assert_usage_error(r) == f"claude-orchestrator: error: {NPM_HINT}"


def test_missing_claude_in_chat_mode(tmp_path: Path, cwd: Path) -> None:
    only_tmux = tmp_path / "only-tmux"
    only_tmux.mkdir()
    _script(only_tmux, "tmux", "exit 1")
    r = _run(["--chat"], cwd, _env(tmp_path, str(only_tmux)))
    assert _assert_usage_error(r) == f"claude-orchestrator: error: {NPM_HINT}"


def test_missing_other_agent_executable(tmp_path: Path, cwd: Path, tools: Path) -> None:
    r = _run([], cwd, _env(tmp_path, str(tools), CLAUDE_CMD="no-such-agent --flag",
                           OPENROUTER_API_KEY=FAKE_KEY))
    assert "no-such-agent" in _assert_usage_error(r)


def test_missing_tmux(tmp_path: Path, cwd: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    os.symlink(sys.executable, bare / "python3")
    _script(bare, "claude", "exit 1")
    r = _run([], cwd, _env(tmp_path, str(bare), OPENROUTER_API_KEY=FAKE_KEY))
    assert "tmux not found on PATH" in _assert_usage_error(r)


def test_missing_tmux_only_python_on_path(tmp_path: Path, cwd: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    os.symlink(sys.executable, bare / "python3")
    r = _run(["--chat"], cwd, _env(tmp_path, str(bare)))
    assert "tmux" in _assert_usage_error(r)


def test_missing_api_key_in_autonomous_mode(tmp_path: Path, cwd: Path, tools: Path) -> None:
    r = _run(["--task", "do something"], cwd, _env(tmp_path, str(tools)))
    line = _assert_usage_error(r)
    assert "OPENROUTER_API_KEY" in line


def test_api_key_file_missing(tmp_path: Path, cwd: Path, tools: Path) -> None:
    r = _run(["--api-key-file", str(tmp_path / "nokey")], cwd,
             _env(tmp_path, str(tools), OPENROUTER_API_KEY=FAKE_KEY))
    assert "nokey" in _assert_usage_error(r)


def test_bad_duration(tmp_path: Path, cwd: Path, tools: Path) -> None:
    r = _run(["--max-time", "soon"], cwd, _env(tmp_path, str(tools),
                                               OPENROUTER_API_KEY=FAKE_KEY))
    assert "--max-time" in _assert_usage_error(r)


def test_unbalanced_claude_cmd(tmp_path: Path, cwd: Path, tools: Path) -> None:
    r = _run([], cwd, _env(tmp_path, str(tools), CLAUDE_CMD='claude "oops',
                           OPENROUTER_API_KEY=FAKE_KEY))
    assert "CLAUDE_CMD" in _assert_usage_error(r)


def test_unknown_flag_exits_2(tmp_path: Path, cwd: Path, tools: Path) -> None:
    r = _run(["--no-such-flag"], cwd, _env(tmp_path, str(tools), OPENROUTER_API_KEY=FAKE_KEY))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert FAKE_KEY not in r.stderr + r.stdout


def test_help_lists_every_env_var(tmp_path: Path, cwd: Path, tools: Path) -> None:
    r = _run(["--help"], cwd, _env(tmp_path, str(tools), OPENROUTER_API_KEY=FAKE_KEY))
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    missing = [s.env for s in SETTINGS if s.env not in r.stdout]
    assert not missing, missing
    missing_flags = [s.flag for s in SETTINGS if s.flag not in r.stdout]
    assert not missing_flags, missing_flags
    assert FAKE_KEY not in r.stdout + r.stderr


def test_too_old_tmux(tmp_path: Path, cwd: Path) -> None:
    """tmux < 3.2 lacks the control-mode flags and subscriptions the waiting relies on."""
    old = tmp_path / "old-tmux"
    old.mkdir()
    _script(old, "tmux", 'echo "tmux 3.1c"')
    _script(old, "claude", "exit 1")
    r = _run(["--chat"], cwd, _env(tmp_path, str(old)))
    assert "tmux 3.2 or newer is needed, found tmux 3.1c" in _assert_usage_error(r)
