"""Which Claude Code release runs: an older one than supported stops at once (exit 2, one line),
a newer one than tested says so in one line and goes on. A `claude` wrapper around the simulated
agent answers `--version` like the real CLI."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from claude_orchestrator.agents.releases import (
    NEWEST_TESTED,
    OLDEST_SUPPORTED,
    installed_version,
    judge_release,
    parse_version,
)
from tests.integration.conftest import FAKE_AGENT, logged_texts, run_cli


def fake_claude(folder: Path, version: str) -> Path:
    """An executable named `claude` that prints `version` for --version and otherwise runs
    the simulated agent."""
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "claude"
    exe.write_text(f"""#!/bin/sh
if [ "$1" = --version ]; then echo "{version} (Claude Code)"; exit 0; fi
exec {sys.executable} {FAKE_AGENT} "$@"
""")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def test_version_of_an_executable(tmp_path: Path) -> None:
    assert installed_version(str(fake_claude(tmp_path, "2.1.250"))) == (2, 1, 250)
    assert installed_version(sys.executable) is None  # not Claude Code
    assert installed_version(str(tmp_path / "missing")) is None


def test_the_supported_range_is_in_order() -> None:
    oldest, newest = parse_version(OLDEST_SUPPORTED), parse_version(NEWEST_TESTED)
    assert oldest is not None and newest is not None and oldest <= newest
    assert judge_release(oldest).verdict == judge_release(newest).verdict == "ok"
    assert judge_release(None).verdict == "ok"


def test_an_older_claude_code_is_refused(socket_name: str, tmp_path: Path,
                                         cli_env: dict[str, str], agent_log: Path) -> None:
    exe = fake_claude(tmp_path / "bin", "2.1.100")
    proc = run_cli(["--chat", "--socket", socket_name, "--claude-cmd", str(exe),
                    str(tmp_path)], cli_env, input="hello\n")
    assert proc.returncode == 2, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
    assert len(errors) == 1 and "2.1.100 is older than the oldest supported" in errors[0]
    assert "Traceback" not in proc.stderr
    assert logged_texts(agent_log) == []


@pytest.mark.parametrize("version", ["2.9.0", "3.0.1"])
def test_a_newer_claude_code_is_named_and_used(version: str, socket_name: str, tmp_path: Path,
                                               cli_env: dict[str, str], agent_log: Path) -> None:
    exe = fake_claude(tmp_path / "bin", version)
    proc = run_cli(["--chat", "--socket", socket_name, "--agent", "claude", "--claude-cmd",
                    str(exe), "--terminate-when-quit", str(tmp_path)], cli_env,
                   input="hello\n")
    assert proc.returncode == 0, proc.stderr
    notes = [ln for ln in proc.stderr.splitlines() if "newer than the newest release tested" in ln]
    assert len(notes) == 1 and f"scripts/canary {version}" in notes[0], proc.stderr
    assert logged_texts(agent_log) == ["hello"]
