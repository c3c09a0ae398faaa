"""Agent profiles: how one agent CLI starts, takes input, and shows that a turn ended."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from claude_orchestrator.agents.base import Agent, Dialog, Kind, ScreenState, UnknownDialog
from claude_orchestrator.agents.claude import ClaudeAgent, user_commands

__all__ = ["Agent", "ClaudeAgent", "Dialog", "Kind", "ScreenState", "UnknownDialog",
           "select_agent"]


def select_agent(choice: str, argv: Sequence[str], *, folders: Sequence[Path] = ()) -> Agent:
    """`claude` when asked, or when `auto` and the command runs an executable named claude.
    `folders`: the `.claude` folders whose commands and skills Claude knows (user, project)."""
    if choice == "claude" or (choice == "auto" and argv and Path(argv[0]).name == "claude"):
        return ClaudeAgent(user_commands(*folders))
    return Agent()
