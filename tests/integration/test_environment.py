"""The pane gets the orchestrator's environment, minus its secrets (Claude's tools run
model-written code), with any agent command (here: a plain shell, the generic profile)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
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
