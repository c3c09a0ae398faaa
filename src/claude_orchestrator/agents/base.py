"""What an agent CLI looks like to the orchestrator: the seam every profile fills in.

The generic profile answers every question from the screen alone; the Claude profile from its
hooks first, with the screen as the watchdog. Drivers never ask which profile they have. Every
method here is a pure function of text, so the turn machine can call it.
"""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from claude_orchestrator.errors import AgentCannotWork
from claude_orchestrator.runtime.hooks import HookChannel, HookEvent, HookName
from claude_orchestrator.screen import sanitize_message

if TYPE_CHECKING:
    from claude_orchestrator.agents.transcript import TurnWork

# An agent's hook events as the turn machine reads them: one raw event in, the events it means
# out (named SessionStart, UserPromptSubmit, Stop, StopFailure, SessionEnd). Stateful: one map
# per pass over the events file.
EventMap = Callable[[HookEvent], list[HookEvent]]


class Kind(enum.Enum):
    """How the agent tells us about a message: its hooks confirm it and end its turn (PROMPT),
    only end its turn (SHELL: Claude's `!` bash mode), or nothing but the screen (SCREEN: any
    agent without hooks, a slash command)."""

    PROMPT = "prompt"
    SHELL = "shell"
    SCREEN = "screen"


class ScreenState(enum.Enum):
    """What the agent's screen says it is doing."""

    STARTING = "starting"  # nothing recognisable yet
    IDLE = "idle"  # waiting at its prompt
    BUSY = "busy"  # working on a turn (spinner, `esc to interrupt`)
    DIALOG = "dialog"  # a start-up question we know how to answer
    UNKNOWN_DIALOG = "unknown-dialog"  # a question we do not know


@dataclass(frozen=True)
class Dialog:
    """A start-up question, recognised by its text, and the answer we give: the option whose
    label `wanted` accepts (None: we do not answer it; `hint` says how to let us)."""

    name: str
    heading: int  # the line where the question starts (options are looked for below it)
    wanted: Callable[[str], bool] | None
    note: str  # one line told to the user when we answer
    hint: str = ""


@dataclass(frozen=True)
class HookSetup:
    """How the agent gets our hooks: its command line without what we replace (Claude: the
    user's own `--settings`), what its pane's environment adds (Gemini: a private home for its
    settings), the settings file we wrote, and whether other Stop hooks can send it on."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    settings_path: Path | None = None
    stop_hooks_elsewhere: bool = False


@dataclass(frozen=True)
class TurnFailure:
    """A turn the agent ended with an API failure that no hook reported, read from its own
    record: the kind in StopFailure's words (`server_error`, `rate_limit`,
    `authentication_failed`, ...; agents/limits.py) and the agent's message."""

    error: str
    message: str


class UnknownDialog(AgentCannotWork):
    """The agent asks something we have no answer for; the screen text goes with it."""

    def __init__(self, screen: str, message: str | None = None) -> None:
        super().__init__(message or "the agent shows a question the orchestrator does not know")
        self.screen = screen


_RULE_RE = re.compile(r"^\s*[─━—-]{20,}\s*$")
_PROMPT_RE = re.compile(r"^\s*[❯>!] ?(.*)$")
_SPINNER_RE = re.compile(r"^\s*[✢✳✶✻✽·*✺◐◓◑◒⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] ?\S.*…")
_STATUS_LINE_RE = re.compile(r"^\s*[✻✢✳✶✽*] \S+ for \d")


def visible_tail(lines: Sequence[str], n: int) -> list[str]:
    """The last `n` lines that matter: blank rows under a TUI's footer are dropped first."""
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    return list(lines[max(0, end - n):end])


def is_rule(line: str) -> bool:
    """A horizontal rule of the input box."""
    return bool(_RULE_RE.match(line))


def input_box(lines: Sequence[str]) -> tuple[int, int] | None:
    """The (first, last) line index of the input box at the bottom: the last pair of rules with a
    prompt line (`❯ `, or `! ` in Claude's bash mode) right after the upper one. None when no
    input box is on the screen."""
    rules = [i for i, line in enumerate(lines) if is_rule(line)]
    for upper in reversed(rules):
        if upper + 1 < len(lines) and _PROMPT_RE.match(lines[upper + 1]):
            lower = next((r for r in rules if r > upper), len(lines))
            return upper, lower
    return None


def input_text(lines: Sequence[str]) -> str | None:
    """What the input box holds (continuation lines joined), None without an input box."""
    box = input_box(lines)
    if box is None:
        return None
    upper, lower = box
    first = _PROMPT_RE.match(lines[upper + 1])
    parts = [first.group(1) if first else ""]
    parts += [line[2:] if line.startswith("  ") else line for line in lines[upper + 2:lower]]
    return "\n".join(parts).strip()


def resembles(got: str, sent: str) -> bool:
    """A garbled copy of our text (not someone else's message).

    >>> resembles('hello wrld', 'hello world'), resembles('something else', 'hello world')
    (True, False)
    """
    a, b = got.strip()[:2000], sent.strip()[:2000]
    return bool(a) and difflib.SequenceMatcher(None, a, b).ratio() >= 0.6


class Agent:
    """The generic profile: any command, screen only.

    A turn has ended when the screen changed and then stayed still; the reply is what is new on
    the screen, minus known furniture (input box, footer, spinner).
    """

    name = "generic"
    title = "the agent"  # as messages name it ("Codex's API refuses ...")
    uses_hooks = False
    resumable = False
    has_input_box = False  # Enter waits for the paste to show in a known input box
    # SessionStart comes when the agent reaches its prompt (Claude, Gemini); Codex sends it
    # with the first message only, so its hooks are taken as reporting from the start.
    start_event_at_launch = True
    # Its prompt counts as ready only after SessionStart (or a still screen without it).
    ready_after_start_event = False
    paste_settle = 0.0  # seconds between a paste and its Enter, at least

    # ----------------------------------------------------------------- starting
    def command(self, argv: Sequence[str], *, settings_path: Path | None,
                resume_id: str | None) -> list[str]:
        """The command line to start (or restart) the agent."""
        return list(argv)

    def pane_environment(self, env: Mapping[str, str]) -> dict[str, str]:
        """The environment the agent runs with (the orchestrator's, minus its secrets)."""
        return dict(env)

    def check_release(self, executable: str) -> str | None:
        """A one-line note about the installed release (raises when it cannot be used)."""
        return None

    def hook_events(self) -> tuple[HookName, ...]:
        """The hook events to listen to (none for an agent without hooks)."""
        return ()

    def install_hooks(self, channel: HookChannel, argv: Sequence[str], *, home: Path,
                      workdir: Path, autonomous: bool,
                      env: Mapping[str, str]) -> HookSetup:
        """Give the agent our hooks through a private overlay it reads besides the user's own
        configuration (never by editing the user's files)."""
        return HookSetup(list(argv))

    def event_map(self) -> EventMap:
        """A fresh map from this agent's hook events to the turn machine's (see EventMap)."""
        return lambda event: [event]

    def own_settings(self, *, autonomous: bool, chosen: Mapping[str, object]) -> dict[str, object]:
        """Settings the orchestrator sets explicitly in the agent's settings file, given the
        mode and what the user's own settings already say (`chosen`)."""
        return {}

    def dialog(self, lines: Sequence[str], *, accept_api_key: bool) -> Dialog | None:
        """The start-up question on the screen, if it is one we know."""
        return None

    def turn_question_key(self, lines: Sequence[str]) -> str | None:
        """A question the agent asks in the middle of a turn that the orchestrator answers
        itself, as the next key toward that answer (None: there is none on screen; a question
        we do not answer waits for a person)."""
        return None

    def dialog_view(self, lines: Sequence[str]) -> list[str]:
        """The screen as agents/dialogs.py reads a choice list: the selected option marked
        `❯` at the start of its line, no box borders."""
        return list(lines)

    def no_conversation(self, screen: str) -> bool:
        """The agent refused to resume: it has no such conversation (never saved)."""
        return "No conversation found" in screen

    # ----------------------------------------------------------------- after a turn
    def turn_failure(self, transcript: str | None, prompt_id: str | None,
                     screen: Sequence[str]) -> TurnFailure | None:
        """A turn that ended with no turn-end hook (the screen went idle): the API failure
        that ended it, from the agent's record or its screen (None: not a failure)."""
        return None

    def turn_work(self, path: str, offset: int, *, prompt: str | None = None,
                  reply: str | None = None, seen: set[str] | None = None) -> TurnWork:
        """One turn's tokens and tools from the agent's session record (Claude's format)."""
        from claude_orchestrator.agents.transcript import turn_work

        return turn_work(path, offset, prompt=prompt, reply=reply, seen=seen)

    # ----------------------------------------------------------------- delivering
    def prepare(self, text: str, *, literal: bool) -> str:
        """The exact text to paste for a message (control characters removed); empty when
        nothing is left to send."""
        text = sanitize_message(text)
        return text if text.strip() else ""

    def kind(self, text: str, *, literal: bool, hooks: bool) -> Kind:
        """How the agent will tell us about this text (see `Kind`)."""
        return Kind.SCREEN

    def normalise(self, text: str) -> str:
        """What the agent will hold after `text` was pasted (its own input rules)."""
        return text

    def received_as_sent(self, reported: str, sent: str) -> bool:
        """Whether the text the agent reports receiving is ours, up to its own input rules."""
        return self.normalise(reported) == self.normalise(sent)

    def resembles(self, reported: str, sent: str) -> bool:
        """Whether a text the agent reports is a garbled copy of ours."""
        return resembles(reported, sent)

    def from_itself(self, prompt: str) -> bool:
        """A prompt the agent gave itself (not a person's message)."""
        return False

    # ----------------------------------------------------------------- the screen
    def screen_state(self, lines: Sequence[str]) -> ScreenState:
        """Idle, busy, or a dialog, judged from the visible screen."""
        if any("esc to interrupt" in line for line in visible_tail(lines, 6)):
            return ScreenState.BUSY
        if any(line.strip() for line in lines):
            return ScreenState.IDLE
        return ScreenState.STARTING

    def input_pending(self, lines: Sequence[str], text: str) -> bool:
        """True when the input box still holds the start of `text` (Enter was not taken)."""
        held = input_text(lines)
        if not held:
            return False
        if held.startswith("[Pasted text #"):  # Claude folds a long paste into a placeholder
            return True
        first = text.strip().split("\n", 1)[0].strip()
        return bool(first) and held.split("\n", 1)[0].strip().startswith(first[:40].strip())

    def closable_view(self, lines: Sequence[str]) -> bool:
        """A view a command opened over the prompt, which Escape closes."""
        return False

    def leftover_input(self, lines: Sequence[str]) -> bool:
        """Text someone left in the input box (it would be sent together with ours)."""
        return False

    def reply_from_screen(self, new: Sequence[str], sent: str) -> str:
        """Claude-like screen furniture removed from the new lines, and our own message."""
        return strip_furniture(new, sent)


def strip_furniture(new: Sequence[str], sent: str) -> str:
    """The reply part of the new lines: without the input box and everything below it, without
    spinner/summary lines, and without the echo of the message we sent."""
    lines = list(new)
    box = input_box(lines)
    if box is not None:
        lines = lines[:box[0]]
    lines = [ln for ln in lines if not _SPINNER_RE.match(ln) and not _STATUS_LINE_RE.match(ln)]
    # Drop the echo of our message: a `❯ first line` / `> first line` and its continuation.
    sent_lines = [s.rstrip() for s in sent.strip("\n").split("\n")] if sent.strip() else []
    if sent_lines:
        for i, line in enumerate(lines):
            m = _PROMPT_RE.match(line)
            if m and m.group(1).strip() == sent_lines[0].strip():
                j = i + 1
                while j < len(lines) and j - i < len(sent_lines) and (
                        lines[j].strip() == sent_lines[j - i].strip()):
                    j += 1
                lines = lines[j:]
                break
    out = _unbullet(lines)
    while out and not out[-1].strip():
        out.pop()
    while out and not out[0].strip():
        out.pop(0)
    return "\n".join(out)


def _unbullet(lines: Sequence[str]) -> list[str]:
    """`● text` becomes `text`, and the two-space indent of that block's continuation lines
    goes. Lines outside a `●` block keep their indentation (a generic agent's code, say).

    >>> _unbullet(['● a', '  b', '', '    c', 'plain', '  kept'])
    ['a', 'b', '', '  c', 'plain', '  kept']
    """
    out: list[str] = []
    in_block = False
    for line in lines:
        if line.startswith("● "):
            in_block = True
            out.append(line[2:])
        elif in_block and (line.startswith("  ") or not line.strip()):
            out.append(line[2:])
        else:
            in_block = False
            out.append(line)
    return out
