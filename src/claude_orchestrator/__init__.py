"""claude-orchestrator: drive the Claude Code CLI in a private tmux server.

The public API (api.py): `Session` (Claude in tmux, `send` a message, get its `Turn`) and
`run_task` (a supervisor LLM works a task through with Claude, a `RunResult`). They load on
first use, so the command line (`--help`, `runs`) does not pay for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from claude_orchestrator.version import __version__

if TYPE_CHECKING:
    from claude_orchestrator.api import RunResult, Session, Turn, run_task

__all__ = ["RunResult", "Session", "Turn", "__version__", "run_task"]


def __getattr__(name: str) -> Any:
    if name in ("RunResult", "Session", "Turn", "run_task"):
        from claude_orchestrator import api

        return getattr(api, name)
    raise AttributeError(f"module 'claude_orchestrator' has no attribute {name!r}")
