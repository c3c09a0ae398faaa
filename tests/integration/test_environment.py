"""The pane gets the orchestrator's environment, minus its secrets (Claude's tools run
model-written code), with any agent command (here: a plain shell, the generic profile)."""

from __future__ import annotations

from pathlib import Path

from tests.integration.conftest import run_cli, tmux_cmd

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
    # Not in the tmux server's global environment either (a new window would inherit it).
    shown = tmux_cmd(socket_name, "show-environment", "-g").stdout
    assert SECRET not in shown and "tok-123" not in shown
    assert "PROJECT_FLAVOUR=vanilla-42" in shown
    assert SECRET not in proc.stdout + proc.stderr


def test_pane_starts_in_the_working_directory(socket_name: str, tmp_path: Path,
                                              cli_env: dict[str, str]) -> None:
    work = tmp_path / "my project"
    work.mkdir()
    proc = run_cli(["--chat", "--socket", socket_name, "--agent", "generic", "--claude-cmd",
                    "bash --norc --noprofile -i", "--terminate-when-quit", str(work)], cli_env,
                   input="pwd\n")
    assert proc.returncode == 0, proc.stderr
    assert str(work) in proc.stdout
