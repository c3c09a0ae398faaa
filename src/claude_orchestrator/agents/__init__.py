"""Agent profiles: how one agent CLI starts, takes input, and shows that a turn ended."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from claude_orchestrator.agents.base import Agent, Dialog, Kind, ScreenState, UnknownDialog
from claude_orchestrator.agents.claude import ClaudeAgent, user_commands
from claude_orchestrator.agents.codex import CodexAgent
from claude_orchestrator.agents.gemini import GeminiAgent

__all__ = ["Agent", "ClaudeAgent", "CodexAgent", "Dialog", "GeminiAgent", "Kind", "ScreenState",
           "UnknownDialog", "select_agent"]
AGENTS = ("claude", "codex", "gemini", "generic")


def select_agent(choice: str, argv: Sequence[str], *, folders: Sequence[Path] = ()) -> Agent:
    """The profile asked for, or with `auto` the one named like the command's executable
    (`claude`, `codex`, `gemini`; anything else is generic). `folders`: the `.claude` folders
    whose commands and skills Claude knows (user, project).

    >>> [select_agent('auto', [cmd]).name for cmd in ('claude', '/usr/bin/codex', 'gemini', 'x')]
    ['claude', 'codex', 'gemini', 'generic']
    """
    name = Path(argv[0]).name if argv else ""
    if choice == "auto":
        choice = name if name in AGENTS else "generic"
    if choice == "claude":
        return ClaudeAgent(user_commands(*folders))
    if choice == "codex":
        return CodexAgent()
    if choice == "gemini":
        return GeminiAgent()
    return Agent()
