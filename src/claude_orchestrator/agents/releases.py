"""Which Claude Code releases this orchestrator supports, and what to do with the one installed.

Claude Code ships every few days. The test command runs the real-CLI tests against both ends of
the range below (scripts/test); `scripts/canary VERSION` runs them against any other release.
Bump a line here when a new release passes the canary; the scripts read these two lines.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from claude_orchestrator.process import child_environ

OLDEST_SUPPORTED = "2.1.197"  # released 2026-06-30
NEWEST_TESTED = "2.1.332"  # released 2026-11-24
# The other agent CLIs (scripts/install-agent-cli reads these lines too).
CODEX_OLDEST_SUPPORTED = "0.171.0"  # @openai/codex, released 2026-11-24
CODEX_NEWEST_TESTED = "0.171.0"
GEMINI_OLDEST_SUPPORTED = "0.61.0"  # @google/gemini-cli, released 2026-09-25
GEMINI_NEWEST_TESTED = "0.61.0"
AGENT_RELEASES = {
    "codex": (CODEX_OLDEST_SUPPORTED, CODEX_NEWEST_TESTED, "Codex CLI", "@openai/codex"),
    "gemini": (GEMINI_OLDEST_SUPPORTED, GEMINI_NEWEST_TESTED, "Gemini CLI",
               "@google/gemini-cli"),
}

_VERSION_RE = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def parse_version(text: str) -> tuple[int, int, int] | None:
    """The first `X.Y.Z` in `text` (e.g. `claude --version` prints `2.1.332 (Claude Code)`).

    >>> parse_version('2.1.332 (Claude Code)')
    (2, 1, 332)
    >>> parse_version('unknown') is None
    True
    """
    m = _VERSION_RE.search(text)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


OLDEST = parse_version(OLDEST_SUPPORTED)
NEWEST = parse_version(NEWEST_TESTED)


@dataclass(frozen=True)
class ReleaseCheck:
    """What the installed release means for this run: `ok`, `newer` (untested: say so and go
    on) or `older` (unsupported: stop with exit 2). `version` is None when it could not be read."""

    verdict: str
    version: tuple[int, int, int] | None
    message: str = ""


def judge_release(version: tuple[int, int, int] | None) -> ReleaseCheck:
    """The verdict for an installed release.

    >>> judge_release((2, 1, 332)).verdict, judge_release((2, 1, 400)).verdict
    ('ok', 'newer')
    >>> judge_release((2, 1, 100)).verdict
    'older'
    """
    assert OLDEST is not None and NEWEST is not None
    if version is None:
        return ReleaseCheck("ok", None, "could not read Claude Code's version; going on")
    shown = ".".join(map(str, version))
    if version < OLDEST:
        return ReleaseCheck("older", version,
                            f"Claude Code {shown} is older than the oldest supported release "
                            f"({OLDEST_SUPPORTED}): update it (npm install -g "
                            "@anthropic-ai/claude-code) or use an older claude-orchestrator")
    if version > NEWEST:
        return ReleaseCheck("newer", version,
                            f"Claude Code {shown} is newer than the newest release tested with "
                            f"this orchestrator ({NEWEST_TESTED}); going on. To check it: "
                            f"scripts/canary {shown} (in a source checkout)")
    return ReleaseCheck("ok", version)


def installed_version(executable: str, timeout: float = 15.0) -> tuple[int, int, int] | None:
    """`claude --version` of this executable, which prints `2.1.332 (Claude Code)` (None when
    it cannot be run, or is not Claude Code: a wrapper script, a test double)."""
    try:
        out = subprocess.run([executable, "--version"], capture_output=True, text=True,
                             timeout=timeout, stdin=subprocess.DEVNULL, env=child_environ())
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0 or "Claude Code" not in out.stdout:
        return None
    return parse_version(out.stdout)


def agent_release_note(agent: str, executable: str, timeout: float = 15.0) -> str | None:
    """The installed Codex or Gemini CLI against its supported range (`AGENT_RELEASES`): an
    older one stops with one line (exit 2), a newer one is named and used, one whose version
    cannot be read (a wrapper) is not judged.

    >>> agent_release_note('codex', '/nonexistent/codex') is None
    True
    """
    from claude_orchestrator.errors import UsageError

    oldest, newest, title, package = AGENT_RELEASES[agent]
    try:
        out = subprocess.run([executable, "--version"], capture_output=True, text=True,
                             timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    version = parse_version(out.stdout) if out.returncode == 0 else None
    low, high = parse_version(oldest), parse_version(newest)
    if version is None or low is None or high is None:
        return None
    shown = ".".join(map(str, version))
    if version < low:
        raise UsageError(f"{title} {shown} is older than the oldest supported release "
                         f"({oldest}): update it (npm install -g {package})")
    if version > high:
        return (f"{title} {shown} is newer than the newest release tested with this "
                f"orchestrator ({newest}); going on. To check it: scripts/canary {agent} {shown}")
    return None
