"""Claude Code: hooks for exact turns, its start-up dialogs, its input rules, `--resume`.

Facts behind each rule are in shared/claude-code-facts.md (measured on 2.1.197).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from claude_orchestrator.agents.base import (
    Agent,
    Dialog,
    ScreenState,
    input_box,
    visible_tail,
)
from claude_orchestrator.screen import sanitize_message

_COMMAND_START = re.compile(r"^[/!#]")
_BUSY_MARKERS = ("esc to interrupt", "Retrying in")
# `✽ Frosting…`, later `✢ Flambéing… (1s · ↓ 2 tokens)`: a spinner glyph at column 0 and a
# verb with an ellipsis. (`✻ Crunched for 2s`, the end of a turn, has no ellipsis.) The footer's
# `esc to interrupt` is not enough alone: a paste hint can stand in its place while busy.
_SPINNER_RE = re.compile(r"^[·✢✳✶✻✽*] \S+…")


def claude_normalise(text: str) -> str:
    """What Claude holds after a paste: tabs become four spaces, trailing whitespace goes.

    >>> claude_normalise('a\\tb  \\n\\n')
    'a    b'
    """
    return text.replace("\t", "    ").rstrip()


def prompts_match(reported: str, sent: str) -> bool:
    """Whether the prompt Claude reports is what we sent, up to Claude's own normalisation
    (tabs, trailing whitespace, and line ends it trims)."""

    def canon(s: str) -> str:
        return "\n".join(line.rstrip() for line in claude_normalise(s).split("\n")).strip("\n")

    return canon(reported) == canon(sent)


class ClaudeAgent(Agent):
    """Claude Code, driven through its hooks."""

    name = "claude"
    uses_hooks = True
    resumable = True

    def command(self, argv: Sequence[str], *, settings_path: Path | None,
                resume_id: str | None) -> list[str]:
        cmd = [a for a in argv]
        # `--continue`/`--resume` in the user's command would fight ours on a restart.
        cleaned: list[str] = []
        skip = False
        for a in cmd:
            if skip:
                skip = False
                continue
            if resume_id and (a in ("--continue", "-c") or a.startswith("--resume=")):
                continue
            if resume_id and a in ("--resume", "-r"):
                skip = True
                continue
            cleaned.append(a)
        if settings_path is not None:
            cleaned += ["--settings", str(settings_path)]
        if resume_id:
            cleaned += ["--resume", resume_id]
        return cleaned

    def prepare(self, text: str, *, literal: bool) -> str:
        """Text starting with `/`, `!` or `#` would be run as a command or switch modes: in
        autonomous mode (literal) one leading space makes it a plain prompt.

        >>> ClaudeAgent().prepare('/explain', literal=True)
        ' /explain'
        >>> ClaudeAgent().prepare('C:\\\\dir\\\\', literal=False)
        'C:\\\\dir\\\\ '
        """
        text = sanitize_message(text)
        if literal and _COMMAND_START.match(text):
            text = " " + text
        stripped = text.rstrip(" \t\n")
        if stripped.endswith("\\"):
            # Enter after a final backslash makes a new line instead of submitting (and the
            # backslash is lost); a trailing space, which Claude trims, keeps it.
            text = stripped + " "
        return text

    def normalise(self, text: str) -> str:
        return claude_normalise(text)

    def received_as_sent(self, reported: str, sent: str) -> bool:
        return prompts_match(reported, sent)

    def screen_state(self, lines: Sequence[str]) -> ScreenState:
        tail = visible_tail(lines, 12)
        if self.dialog(lines, accept_api_key=True) is not None:
            return ScreenState.DIALOG
        if any(marker in line for line in tail for marker in _BUSY_MARKERS) or any(
                _SPINNER_RE.match(line) for line in tail):
            return ScreenState.BUSY
        if input_box(lines) is not None:
            return ScreenState.IDLE
        if _looks_like_question(lines):
            return ScreenState.UNKNOWN_DIALOG
        return ScreenState.STARTING

    def dialog_hint(self, lines: Sequence[str]) -> str | None:
        return _api_key_hint(lines)

    def dialog(self, lines: Sequence[str], *, accept_api_key: bool) -> Dialog | None:
        text = "\n".join(lines)
        if "trust this folder" in text or "Do you trust the files" in text:
            return Dialog("trust", ("Enter",),
                          "accepted Claude's folder-trust question for the working directory")
        if "Bypass Permissions mode" in text and "Yes, I accept" in text:
            keys = _select_option(lines, "Yes, I accept")
            return Dialog("bypass", keys,
                          "accepted Claude's bypass-permissions warning (CLAUDE_CMD asks for it)")
        if "Do you want to use this API key" in text:
            if not accept_api_key:
                return None
            keys = _select_option(lines, "Yes")
            return Dialog("api-key", keys,
                          "told Claude to use ANTHROPIC_API_KEY (--accept-api-key)")
        return None


def _api_key_hint(lines: Sequence[str]) -> str | None:
    if "Do you want to use this API key" in "\n".join(lines):
        return ("Claude asks whether to use ANTHROPIC_API_KEY from the environment; answer yes "
                "with --accept-api-key (CLAUDE_ORCHESTRATOR_ACCEPT_API_KEY=true)")
    return None


def _select_option(lines: Sequence[str], label: str) -> tuple[str, ...]:
    """Keys that move the `❯` selection to the option whose text starts with `label`, then
    Enter. Never a blind Enter: on the bypass warning the pre-selected answer exits Claude."""
    options: list[tuple[int, bool]] = []  # (line index, selected)
    target = -1
    for i, line in enumerate(lines):
        m = re.match(r"^\s*(❯)?\s*(\d+)\.\s+(.*)$", line)
        if not m:
            continue
        options.append((i, bool(m.group(1))))
        if m.group(3).strip().startswith(label) and target < 0:
            target = len(options) - 1
    current = next((k for k, (_, sel) in enumerate(options) if sel), 0)
    if target < 0:
        return ()
    moves = target - current
    key = "Down" if moves > 0 else "Up"
    return (*([key] * abs(moves)), "Enter")


def _looks_like_question(lines: Sequence[str]) -> bool:
    """A numbered choice with a `❯` selector and no input box: some dialog we do not know."""
    return any(re.match(r"^\s*❯\s*\d+\.\s", line) for line in lines)
