"""Helpers for tests that run the real Claude Code CLI against the fake Anthropic API.

The CLI is an npm release installed (git-ignored) under ``<repo>/.cache/claude-code/<version>``
by ``scripts/install-claude-code``. Which one a test run uses: ``CO_TEST_CLAUDE_VERSION`` (set by
``scripts/test`` for each leg of its matrix, and by ``scripts/canary``), else the newest tested
release named in ``src/claude_orchestrator/agents/releases.py``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from claude_orchestrator.agents.releases import NEWEST_TESTED, parse_version

__all__ = [
    "CLAUDE_CODE_VERSION",
    "REPO_ROOT",
    "claude_bin",
    "claude_env",
    "claude_version",
    "prepare_home",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
CLAUDE_CODE_VERSION: str = os.environ.get("CO_TEST_CLAUDE_VERSION") or NEWEST_TESTED
_BIN = REPO_ROOT / ".cache" / "claude-code" / CLAUDE_CODE_VERSION / "node_modules" / ".bin" / (
    "claude")


def claude_version() -> tuple[int, int, int]:
    """The release the tests run, as numbers (for premises that differ between releases)."""
    version = parse_version(CLAUDE_CODE_VERSION)
    assert version is not None, CLAUDE_CODE_VERSION
    return version


def claude_bin() -> Path | None:
    """The pinned ``claude`` executable, or None when it is not installed."""
    return _BIN if _BIN.exists() and os.access(_BIN, os.X_OK) else None


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def prepare_home(
    home: Path,
    api_key: str,
    *,
    trusted_dirs: Iterable[Path | str] = (),
    accept_bypass: bool = True,
    fresh: bool = False,
) -> Path:
    """Write ``$HOME/.claude.json`` (and ``$HOME/.claude/settings.json``) so Claude Code starts
    straight at its prompt.

    Always settled: onboarding (``hasCompletedOnboarding``) and the custom API key question
    (``customApiKeyResponses.approved`` holds the key's last 20 characters). Unless ``fresh``:
    ``projects[dir].hasTrustDialogAccepted`` for each of ``trusted_dirs`` and, when
    ``accept_bypass``, ``skipDangerousModePermissionPrompt`` in settings.json. With ``fresh=True``
    both the trust dialog and the bypass-permissions dialog appear. Existing content is kept
    (merged). Returns ``home``.
    """
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    cfg_path = home / ".claude.json"
    cfg = _load(cfg_path)
    cfg["hasCompletedOnboarding"] = True
    cfg.setdefault("numStartups", 1)
    responses = cfg.setdefault("customApiKeyResponses", {"approved": [], "rejected": []})
    approved = responses.setdefault("approved", [])
    responses.setdefault("rejected", [])
    if api_key[-20:] not in approved:
        approved.append(api_key[-20:])
    if not fresh:
        projects = cfg.setdefault("projects", {})
        for d in trusted_dirs:
            key = str(Path(d).resolve())
            projects.setdefault(key, {})["hasTrustDialogAccepted"] = True
    cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")

    if accept_bypass and not fresh:
        settings_dir = home / ".claude"
        settings_dir.mkdir(parents=True, exist_ok=True)
        settings_path = settings_dir / "settings.json"
        settings = _load(settings_path)
        settings["skipDangerousModePermissionPrompt"] = True
        settings_path.write_text(json.dumps(settings, indent=2) + "\n")
    return home


def claude_env(
    home: Path, base_url: str, api_key: str, *, base: dict[str, str] | None = None
) -> dict[str, str]:
    """Environment for a ``claude`` process: ``base`` (default: os.environ) plus a private HOME,
    the fake API, the switches that keep it offline and quiet, and the pinned bin dir on PATH."""
    env = dict(os.environ if base is None else base)
    path = env.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(
        {
            "HOME": str(home),
            "ANTHROPIC_BASE_URL": base_url,
            "ANTHROPIC_API_KEY": api_key,
            "DISABLE_AUTOUPDATER": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY": "1",
            "IS_SANDBOX": "1",
            "PATH": f"{_BIN.parent}{os.pathsep}{path}",
        }
    )
    return env
