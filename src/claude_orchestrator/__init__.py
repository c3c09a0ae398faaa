"""claude-orchestrator: drive the Claude Code CLI in a private tmux server.

The public API (api.py): `Session` (Claude in tmux, `send` a message, get its `Turn`) and
`run_task` (a supervisor LLM works a task through with Claude, a `RunResult`).
"""

__version__ = "0.1.0"

from claude_orchestrator.api import RunResult, Session, Turn, run_task

__all__ = ["RunResult", "Session", "Turn", "__version__", "run_task"]
