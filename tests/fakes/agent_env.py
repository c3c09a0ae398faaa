"""Helpers for tests that run the real Codex CLI and Gemini CLI against their fake APIs.

The CLIs are npm releases installed (git-ignored) under ``<repo>/.cache/<agent>/<version>`` by
``scripts/install-agent-cli``; ``CO_TEST_CODEX_VERSION`` / ``CO_TEST_GEMINI_VERSION`` choose
another (``scripts/canary``), else the newest tested release in agents/releases.py.

Nothing they do may leave 127.0.0.1: ``offline_problem`` says why the machine is not offline
(the test command runs these tests in a network namespace with only loopback).
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from claude_orchestrator.agents.releases import CODEX_NEWEST_TESTED, GEMINI_NEWEST_TESTED

REPO_ROOT = Path(__file__).resolve().parents[2]
VERSIONS = {
    "codex": os.environ.get("CO_TEST_CODEX_VERSION") or CODEX_NEWEST_TESTED,
    "gemini": os.environ.get("CO_TEST_GEMINI_VERSION") or GEMINI_NEWEST_TESTED,
}
CODEX_MODEL = "gpt-5-codex"
GEMINI_MODEL = "gemini-2.5-flash"
CODEX_KEY_ENV = "FAKE_OPENAI_KEY"
# The command lines the tests drive each CLI with (what a user puts in CLAUDE_CMD).
COMMANDS = {"codex": "codex --dangerously-bypass-approvals-and-sandbox",
            "gemini": f"gemini -m {GEMINI_MODEL} --yolo"}


def agent_bin(agent: str) -> Path | None:
    """The pinned executable, or None when it is not installed."""
    path = REPO_ROOT / ".cache" / agent / VERSIONS[agent] / "node_modules" / ".bin" / agent
    return path if path.exists() and os.access(path, os.X_OK) else None


def offline_problem() -> str | None:
    """Why this process could reach the network (None: only loopback works). A connection to a
    public address must fail at once: no route, no interface."""
    for address in (("1.1.1.1", 443), ("8.8.8.8", 53)):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2.0)
        try:
            s.connect(address)
        except OSError:
            continue
        finally:
            s.close()
        return f"a connection to {address[0]}:{address[1]} succeeded"
    return None


def codex_home(home: Path, base_url: str, *, trusted: list[Path] = (),  # type: ignore[assignment]
               retries: int = 1) -> Path:
    """``$HOME/.codex/config.toml`` for a user of a custom provider (the fake Responses API):
    the model, the provider, few retries (a 500 ends in seconds), and folder trust for
    `trusted` (none: Codex asks, as in a new folder)."""
    folder = home / ".codex"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f'model = "{CODEX_MODEL}"', 'model_provider = "fake"', "",
             "[model_providers.fake]", 'name = "fake"', f'base_url = "{base_url}"',
             'wire_api = "responses"', f'env_key = "{CODEX_KEY_ENV}"',
             f"request_max_retries = {retries}", f"stream_max_retries = {retries}", ""]
    for d in trusted:
        lines += [f"[projects.{json.dumps(str(Path(d).resolve()))}]", 'trust_level = "trusted"',
                  ""]
    (folder / "config.toml").write_text("\n".join(lines))
    return home


def gemini_home(home: Path, *, trusted: list[Path] = (),  # type: ignore[assignment]
                max_attempts: int = 2) -> Path:
    """``$HOME/.gemini/settings.json`` for an API-key user, with usage statistics and the
    auto-updater off, few attempts on a failing API, and `trusted` folders trusted."""
    folder = home / ".gemini"
    folder.mkdir(parents=True, exist_ok=True)
    settings = {"security": {"auth": {"selectedType": "gemini-api-key"}},
                "privacy": {"usageStatisticsEnabled": False},
                "general": {"disableAutoUpdate": True, "enableAutoUpdateNotification": False,
                            "maxAttempts": max_attempts}}
    (folder / "settings.json").write_text(json.dumps(settings, indent=1))
    if trusted:
        trust = {str(Path(d).resolve()): "TRUST_FOLDER" for d in trusted}
        (folder / "trustedFolders.json").write_text(json.dumps(trust, indent=1))
    return home


def agent_env(agent: str, home: Path, base_url: str, base: dict[str, str]) -> dict[str, str]:
    """The environment a Codex or Gemini CLI runs with: ``base``, a private HOME, the fake API's
    address and key, and the pinned bin dir first on PATH."""
    exe = agent_bin(agent)
    env = dict(base)
    env["HOME"] = str(home)
    if exe is not None:
        env["PATH"] = f"{exe.parent}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    if agent == "codex":
        env[CODEX_KEY_ENV] = "sk-fake-codex-0123456789"
    else:
        env.update(GEMINI_API_KEY="fake-gemini-key-0123456789", GOOGLE_GEMINI_BASE_URL=base_url)
    return env
