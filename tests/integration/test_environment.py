"""The pane gets the orchestrator's environment, minus its secrets (Claude's tools run
model-written code), with any agent command (here: a plain shell, the generic profile)."""

from __future__ import annotations

import contextlib
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.integration.conftest import (
    FAKE_AGENT,
    logged_texts,
    run_cli,
    tmux_cmd,
    wait_until,
)

SECRET = "sk-or-v1-SECRET-do-not-leak-4f2a9c"


def test_pane_sees_environment_but_not_the_secrets(socket_name: str, tmp_path: Path,
                                                  cli_env: dict[str, str]) -> None:
    env = dict(cli_env, PROJECT_FLAVOUR="vanilla-42", OPENROUTER_API_KEY=SECRET,
               MY_TOKEN="tok-123", CLAUDE_ORCHESTRATOR_WITHHOLD_ENV="MY_TOKEN",
               TERMINATE_WHEN_QUIT="false")
    line = 'echo "flavour=$PROJECT_FLAVOUR key=${OPENROUTER_API_KEY:-unset} tok=${MY_TOKEN:-unset}"'
    proc = run_cli(["--chat", "--socket", socket_name, "--agent", "generic",
                    "--claude-cmd", "bash --norc --noprofile -i", str(tmp_path)], env,
                   input=line + "\n")
    assert proc.returncode == 0, proc.stderr
    assert "flavour=vanilla-42 key=unset tok=unset" in proc.stdout
    # Nothing of ours in the tmux server's global environment (a new window would inherit it):
    # it started with a bare environment, the pane's came through a private file.
    shown = tmux_cmd(socket_name, "show-environment", "-g").stdout
    assert SECRET not in shown and "tok-123" not in shown and "vanilla-42" not in shown
    assert SECRET not in proc.stdout + proc.stderr


def command_lines() -> dict[int, str]:
    """Every process's command line (what `ps` shows every local user)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                raw = (entry / "cmdline").read_bytes()
                out[int(entry.name)] = raw.replace(b"\0", b" ").decode("utf-8", "replace")
    return out


def test_no_secret_on_any_command_line(socket_name: str, tmp_path: Path,
                                       cli_env: dict[str, str], agent_log: Path) -> None:
    """While the agent runs (and after the orchestrator left, with the default of leaving
    Claude running), no process's command line holds a value of the pane's environment."""
    secrets = {"ANTHROPIC_API_KEY": "sk-ant-api03-CMDLINE-SECRET-77aa",
               "GITHUB_TOKEN": "ghp_CMDLINESECRET1234567890",
               "OPENROUTER_API_KEY": "sk-or-v1-CMDLINE-SECRET-99bb",
               "PLAIN_SETTING": "plain-value-in-env-only-31337"}
    env = dict(cli_env, **secrets)
    cmd = f"{sys.executable} {FAKE_AGENT}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "claude_orchestrator", "--chat", "--socket", socket_name,
         "--agent", "claude", "--claude-cmd", cmd, str(tmp_path)], env=env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    proc.stdin.write("env GITHUB_TOKEN\n")
    proc.stdin.flush()
    assert wait_until(lambda: logged_texts(agent_log) == ["env GITHUB_TOKEN"], 20)
    during = command_lines()
    out, err = proc.communicate("env OPENROUTER_API_KEY\n", timeout=60)
    assert proc.returncode == 0, err
    assert f"GITHUB_TOKEN={secrets['GITHUB_TOKEN']}" in out  # the pane has it ...
    assert "OPENROUTER_API_KEY=unset" in out  # ... but never the supervisor's key
    after = command_lines()
    for lines in (during, after):
        for pid, line in lines.items():
            for value in secrets.values():
                assert value not in line, f"process {pid} shows a secret: {line[:200]}"
    assert any("claude_orchestrator" in line for line in during.values())
    assert any(str(FAKE_AGENT) in line for line in after.values())  # still running



def test_pane_starts_in_the_working_directory(socket_name: str, tmp_path: Path,
                                              cli_env: dict[str, str]) -> None:
    work = tmp_path / "my project"
    work.mkdir()
    proc = run_cli(["--chat", "--socket", socket_name, "--agent", "generic", "--claude-cmd",
                    "bash --norc --noprofile -i", "--terminate-when-quit", str(work)], cli_env,
                   input="pwd\n")
    assert proc.returncode == 0, proc.stderr
    assert str(work) in proc.stdout


def test_nothing_in_the_shared_temp_folder_and_state_is_private(
        socket_name: str, tmp_path: Path, cli_env: dict[str, str]) -> None:
    """All of a session's state is in its private folder (0700, files 0600); the shared temp
    folder gets nothing of ours (tmux's own socket folder aside)."""
    tmp = Path(tempfile.gettempdir())
    before = {p.name for p in tmp.iterdir()}
    proc = run_cli(["--chat", "--socket", socket_name, "--agent", "claude", "--claude-cmd",
                    f"{sys.executable} {FAKE_AGENT}", str(tmp_path)], cli_env,
                   input="hello\n")
    assert proc.returncode == 0, proc.stderr
    new = {p.name for p in tmp.iterdir()} - before
    assert not {n for n in new if not n.startswith(("tmux-", "pytest-"))}, new
    state = (Path(cli_env["XDG_RUNTIME_DIR"]) / "claude-orchestrator"
             / f"{socket_name}.gt-claude-loop")
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    names = {p.name for p in state.iterdir()}
    assert {"events.jsonl", "settings.json", "wake"} <= names
    for p in state.iterdir():
        assert stat.S_IMODE(p.lstat().st_mode) & 0o077 == 0, p
    # The pane's command names files in that folder only.
    cmd = tmux_cmd(socket_name, "display-message", "-p", "-t", "=gt-claude-loop:",
                   "#{pane_start_command}").stdout
    assert str(state) in cmd and str(tmp) + "/claude" not in cmd


def test_the_lock_holds_across_runtime_folders(socket_name: str, tmp_path: Path,
                                              cli_env: dict[str, str], agent_log: Path) -> None:
    """A second orchestrator on the same tmux session is refused even when its environment
    names another runtime folder."""
    first = subprocess.Popen(
        [sys.executable, "-m", "claude_orchestrator", "--chat", "--socket", socket_name,
         "--agent", "generic", "--claude-cmd", f"{sys.executable} {FAKE_AGENT}", str(tmp_path)],
        env=cli_env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    assert first.stdin is not None
    first.stdin.write("hello\n")
    first.stdin.flush()
    assert wait_until(lambda: logged_texts(agent_log) == ["hello"], 20)
    other = tmp_path / "other-run"
    other.mkdir(mode=0o700)
    second = run_cli(["--chat", "--socket", socket_name, "--agent", "generic", "--claude-cmd",
                      f"{sys.executable} {FAKE_AGENT}", str(tmp_path)],
                     dict(cli_env, XDG_RUNTIME_DIR=str(other)), input="intruder\n")
    assert second.returncode == 2, second.stderr
    assert "another claude-orchestrator" in second.stderr
    first.communicate("", timeout=30)
    assert logged_texts(agent_log) == ["hello"]
