"""claude-orchestrator: drive the Claude Code CLI in a private tmux server."""

__version__ = "0.1.0"
