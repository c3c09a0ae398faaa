"""Claude Code: hooks for exact turns, its start-up dialogs, its input rules, `--resume`.

Everything here that depends on Claude's screen or events is decided by meaning (option text,
event content), never by screen position or option number, so one profile serves every
supported release (agents/releases.py). The facts behind each rule are in
shared/claude-code-facts.md, measured on 2.1.197 and 2.1.332.
"""

from __future__ import annotations

import contextlib
import os
import re
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path

from claude_orchestrator.agents.base import (
    Agent,
    Dialog,
    HookSetup,
    Kind,
    ScreenState,
    input_box,
    input_text,
    visible_tail,
)
from claude_orchestrator.agents.dialogs import newest, options
from claude_orchestrator.agents.releases import installed_version, judge_release
from claude_orchestrator.errors import UsageError
from claude_orchestrator.runtime.hooks import (
    HookChannel,
    HookName,
    other_stop_hooks,
    settings_in_force,
    split_user_settings,
)
from claude_orchestrator.screen import sanitize_message

_COMMAND_START = re.compile(r"^[/!]")
_SLASH_COMMAND = re.compile(r"^/([a-zA-Z0-9:_-]+)(?=\s|$)")
COMMAND_ESCAPE = "\\"
# Slash commands Claude Code runs even after leading whitespace (2.1.332 trims the input before
# it looks a command up; 2.1.197 does not): the built-ins and their aliases of the supported
# releases, read off their command menus. The user's own commands and skills are added from
# their folders (`user_commands`).
_COMMAND_NAMES = """
add-dir agents allowed-tools android auto-mode-setup autocompact background bashes batch bg
branch btw bug cd checkpoint checkup claude-api clear code-review color compact config context
continue copy cost dataviz debug deep-research diff doctor effort exit export fast feedback
fewer-permission-prompts focus fork goal help hooks ide init insights ios keybindings
list-agents login logout loop marketplace mcp memory mobile model name new output-style peers
permissions plan plugin plugin-authoring plugins powerup pr-comments quit radio recap
release-notes reload-plugins reload-skills rename reset resume review rewind run
run-skill-generator sandbox scroll-speed security-review settings share simplify skills stats
status statusline stickers subtask tasks team-onboarding terminal-setup theme tui undo
update-config upgrade usage verify vim workflow-authoring workflows
"""
BUILTIN_COMMANDS = frozenset(_COMMAND_NAMES.split())
_BUSY_MARKERS = ("esc to interrupt", "Retrying in", "Press up to edit queued")
# `✽ Frosting…`, later `✢ Flambéing… (1s · ↓ 2 tokens)`: a spinner glyph at column 0 and a
# verb with an ellipsis. (`✻ Crunched for 2s`, the end of a turn, has no ellipsis.) The footer's
# `esc to interrupt` is not enough alone: a paste hint or a user's statusLine can replace it.
_SPINNER_RE = re.compile(r"^[·✢✳✶✻✽*] \S+…")
# Claude wraps a paste it folds into `[Pasted text #N]` (2.1.332): the id is per session.
_PASTE_WRAP = re.compile(
    r'\n\n<pasted_content id="([0-9a-f]+)">\n(.*?)\n</pasted_content id="\1">\n', re.S)
# ... and escapes a tag of that name inside it (`<\pasted_content`, `<\/pasted_content`), an
# already escaped one staying as it is: so both forms read as one.
_WRAP_TAG_ESCAPED = re.compile(r"<\\(/?pasted_content)")
# The events we listen to; all are known to every supported release (an event name a release
# does not know opens a blocking "Settings Warning" dialog at start-up).
# The start-up questions we answer, by the phrases of their headings (every supported release).
_QUESTIONS = {
    "trust": ("Accessing workspace", "Quick safety check", "Do you trust the files"),
    "bypass": ("Bypass Permissions mode",),
    "api-key": ("Do you want to use this API key",),
}
# The footer of a view a slash command opens (2.1.197: `Esc to cancel`, `Esc to clear` in the
# config search; 2.1.332: `Esc to close`, `Esc to go back`).
_VIEW_FOOTER = re.compile(r"\bEsc to (close|cancel|go back|clear)\b")
CROSS_SESSION = "crossSessionInbound"
HOOK_EVENTS = (HookName.SESSION_START, HookName.USER_PROMPT_SUBMIT, HookName.STOP,
               HookName.STOP_FAILURE, HookName.SESSION_END, HookName.NOTIFICATION)


def unwrap_pastes(text: str) -> str:
    """The text as pasted: Claude 2.1.332's `<pasted_content>` wrapper around a folded paste
    taken off (the wrapper is Claude's own doing, like its other normalisations).

    >>> unwrap_pastes('\\n\\n<pasted_content id="a934">\\nl1\\nl2\\n</pasted_content id="a934">\\n')
    'l1\\nl2'
    >>> unwrap_pastes('typed\\n\\n<pasted_content id="0f3c">\\nx\\n</pasted_content id="0f3c">\\n')
    'typedx'
    """
    return _PASTE_WRAP.sub(lambda m: m.group(2), text)


def without_format(text: str) -> str:
    """`text` without its Unicode format characters (category Cf: zero-width space, soft
    hyphen, bidi marks, BOM, tags...), as Claude 2.1.332 takes them out of its input (measured);
    a zero-width joiner between two symbols (inside an emoji sequence) is the one it keeps.
    2.1.197 keeps them all: comparing both sides without them serves both.

    >>> without_format('\\u200b/clear it\\u00ad'), without_format('a\\u200db')
    ('/clear it', 'ab')
    >>> without_format('\\U0001F468\\u200d\\U0001F469') == '\\U0001F468\\u200d\\U0001F469'
    True
    """
    if not any(unicodedata.category(c) == "Cf" for c in text):
        return text
    def kept(i: int, c: str) -> bool:
        if unicodedata.category(c) != "Cf":
            return True
        return c == "\u200d" and 0 < i < len(text) - 1 and _symbol(text[i - 1]) and _symbol(
            text[i + 1])

    return "".join(c for i, c in enumerate(text) if kept(i, c))


def _symbol(c: str) -> bool:
    """A pictograph, an emoji modifier or the emoji presentation selector (what a joiner
    joins inside an emoji sequence)."""
    return unicodedata.category(c) in ("So", "Sk") or c == "\ufe0f"


def claude_normalise(text: str) -> str:
    """What Claude holds after a paste of `text`: format characters out (`without_format`),
    Unicode composed (NFC), tabs as four spaces, trailing whitespace trimmed (each line's too:
    Claude keeps or trims it depending on whether it folds the paste, and both are its own
    doing), a folded paste's wrapper taken off.

    >>> claude_normalise('a\\tb  \\n\\n')
    'a    b'
    >>> claude_normalise('cafe\\u0301') == 'caf\\u00e9'
    True
    """
    text = _WRAP_TAG_ESCAPED.sub(r"<\1", unwrap_pastes(text))
    text = unicodedata.normalize("NFC", without_format(text)).replace("\t", "    ")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n").rstrip()


def prompts_match(reported: str, sent: str) -> bool:
    """Whether the prompt Claude reports is what we sent, up to Claude's own normalisation:
    the one place that knows all of it (NFC, tabs, trailing whitespace, paste wrapping; the
    leading and trailing space we add are in `sent` already)."""
    return claude_normalise(reported) == claude_normalise(sent)


def user_commands(*folders: Path) -> frozenset[str]:
    """The names of the user's and the project's own commands and skills under these `.claude`
    folders (`commands/x.md` is `/x`, `commands/ns/x.md` is `/ns:x`, `skills/x/` is `/x`)."""
    names: set[str] = set()
    for folder in folders:
        commands = folder / "commands"
        with contextlib.suppress(OSError):
            for path in commands.rglob("*.md"):
                parts = path.relative_to(commands).with_suffix("").parts
                names.add(":".join(parts))
                names.add(parts[-1])
        with contextlib.suppress(OSError):
            names.update(p.name for p in (folder / "skills").iterdir() if p.is_dir())
    return frozenset(names)


class ClaudeAgent(Agent):
    """Claude Code, driven through its hooks."""

    name = "claude"
    title = "Claude Code"
    uses_hooks = True
    resumable = True
    has_input_box = True

    def __init__(self, commands: frozenset[str] = frozenset()) -> None:
        self.commands = BUILTIN_COMMANDS | commands

    # ----------------------------------------------------------------- starting
    def command(self, argv: Sequence[str], *, settings_path: Path | None,
                resume_id: str | None) -> list[str]:
        cleaned: list[str] = []
        skip = False
        for a in argv:  # `--continue`/`--resume` in the user's command would fight ours
            if skip:
                skip = False
                continue
            if resume_id and (a in ("--continue", "-c") or a.startswith(("--resume=",
                                                                          "--session-id="))):
                continue
            if resume_id and a in ("--resume", "-r", "--session-id"):
                skip = True  # `--session-id` with `--resume` is an error
                continue
            cleaned.append(a)
        if settings_path is not None:
            cleaned += ["--settings", str(settings_path)]
        if resume_id:
            cleaned += ["--resume", resume_id]
        return cleaned

    def pane_environment(self, env: Mapping[str, str]) -> dict[str, str]:
        """Claude's environment, with two switches unless the user set them:
        - the classic renderer (`CLAUDE_CODE_DISABLE_ALTERNATE_SCREEN=1`): 2.1.332 draws full
          screen by default, which leaves no tmux scrollback (a long reply read from the screen
          would be cut, a person attaching could not scroll back) and falls back to the classic
          renderer after a crash anyway; classic is the same on every release;
        - no feedback survey, which has been seen to swallow messages typed by other tools."""
        out = dict(env)
        out.setdefault("CLAUDE_CODE_DISABLE_ALTERNATE_SCREEN", "1")
        out.setdefault("CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY", "1")
        return out

    def check_release(self, executable: str) -> str | None:
        version = installed_version(executable)
        if version is None:
            return None  # not Claude Code itself (a wrapper?): nothing to judge
        check = judge_release(version)
        if check.verdict == "older":
            raise UsageError(check.message)
        return check.message if check.verdict == "newer" else None

    def hook_events(self) -> tuple[HookName, ...]:
        return HOOK_EVENTS

    def install_hooks(self, channel: HookChannel, argv: Sequence[str], *, home: Path,
                      workdir: Path, autonomous: bool,
                      env: Mapping[str, str]) -> HookSetup:
        """One private `--settings` file: the user's own `--settings` (taken out of their
        command) with our hooks and settings added; Claude reads it besides their files."""
        rest, user_settings = split_user_settings(argv)
        found = settings_in_force(argv, user_settings, home, workdir)
        own = self.own_settings(autonomous=autonomous,
                                chosen={k: v for d in found for k, v in d.items()})
        path = channel.write_settings(user_settings, self.hook_events(), own)
        return HookSetup(rest, settings_path=path, stop_hooks_elsewhere=other_stop_hooks(found))

    def own_settings(self, *, autonomous: bool, chosen: Mapping[str, object]) -> dict[str, object]:
        """`crossSessionInbound: refuse`: Claude 2.1.224+ lets the person's other Claude
        sessions message this one over a local socket. Accepted, such text would reach Claude
        unbidden (a turn no driver sent); held (the default with bypass permissions), it opens
        a "Held message from another session" question that blocks every turn. Autonomous
        mode always refuses; chat refuses unless the user's own settings chose (then they
        decide, and a held message is a question they answer at the pane). Older releases
        ignore the key (2.1.197, measured: no warning).

        >>> ClaudeAgent().own_settings(autonomous=False, chosen={'crossSessionInbound': 'hold'})
        {}
        >>> ClaudeAgent().own_settings(autonomous=True, chosen={'crossSessionInbound': 'accept'})
        {'crossSessionInbound': 'refuse'}
        """
        if not autonomous and CROSS_SESSION in chosen:
            return {}
        return {CROSS_SESSION: "refuse"}

    def dialog(self, lines: Sequence[str], *, accept_api_key: bool) -> Dialog | None:
        """The question Claude asks now: the bottom-most heading on screen, and only while no
        input box stands under it (then the question was answered and its text is an old
        frame's). Judging the first heading on screen answered the wrong question, or none,
        after a redraw had stacked frames (agents/dialogs.py)."""
        found = newest(lines, _QUESTIONS)
        if found is None or input_box(lines[found[1]:]) is not None:
            return None
        name, heading = found
        if name == "trust":
            return Dialog("trust", heading, lambda s: s.startswith("Yes, I trust"),
                          "accepted Claude's folder-trust question for the working directory")
        if name == "bypass":
            return Dialog("bypass", heading, lambda s: s.startswith("Yes, I accept"),
                          "accepted Claude's bypass-permissions warning (CLAUDE_CMD asks for it)")
        if not accept_api_key:
            return Dialog("api-key", heading, None, "", hint=(
                "Claude asks whether to use ANTHROPIC_API_KEY from the environment; answer "
                "yes with --accept-api-key (CLAUDE_ORCHESTRATOR_ACCEPT_API_KEY=true)"))
        return Dialog("api-key", heading, lambda s: s == "Yes",
                      "told Claude to use ANTHROPIC_API_KEY (--accept-api-key)")

    # ----------------------------------------------------------------- delivering
    def prepare(self, text: str, *, literal: bool) -> str:
        """Text starting with `/` or `!` would be run as a command or switch to bash mode: in
        autonomous mode (literal) one leading space makes it a plain prompt. Claude 2.1.332 runs
        a command it knows even after leading whitespace (any Unicode space), and removes an
        invisible character with a warning that blocks Enter, so before one of those commands
        the mark is a backslash instead: `\\/compact ...` reads as an escaped slash. A trailing
        space (which Claude trims) keeps Enter from acting on the last word: after a final
        backslash it makes a new line, after an `@path` it picks a file from the list.

        >>> ClaudeAgent().prepare('/explain', literal=True)
        ' /explain'
        >>> ClaudeAgent().prepare('/compact the notes', literal=True)
        '\\\\/compact the notes'
        >>> ClaudeAgent().prepare('C:\\\\dir\\\\', literal=False)
        'C:\\\\dir\\\\ '
        >>> ClaudeAgent().prepare('look at @src/ma', literal=True)
        'look at @src/ma '
        >>> ClaudeAgent().prepare('\\x07\\x1b[0m', literal=True)
        ''
        >>> ClaudeAgent().prepare('\\u200b/clear it', literal=True) == '\\\\\\u200b/clear it'
        True
        """
        text = sanitize_message(text)
        # What Claude looks at: 2.1.332 takes format characters out first (`\u200b/clear`
        # ran /clear), so the check is made without them; the text itself is typed as it is.
        visible = without_format(text)
        if not visible.strip():
            return ""
        known = _SLASH_COMMAND.match(visible.lstrip())
        if literal and known and known.group(1) in self.commands:
            text = COMMAND_ESCAPE + text
        elif literal and _COMMAND_START.match(visible):
            text = " " + text
        stripped = text.rstrip(" \t\n")
        words = stripped.rsplit("\n", 1)[-1].split()
        if stripped.endswith("\\") or (words and words[-1].startswith("@")):
            text = stripped + " "
        return text

    def kind(self, text: str, *, literal: bool, hooks: bool) -> Kind:
        """A prompt (its hooks confirm and end it); in chat, `!cmd` runs in bash mode (no
        submit event, a Stop ends it) and `/command` is Claude's own (no hook at all: the
        screen decides), unless `/word` names an existing path (Claude takes it as a prompt)."""
        if not hooks:
            return Kind.SCREEN
        if not literal and text.startswith("!"):
            return Kind.SHELL
        m = _SLASH_COMMAND.match(text)
        if not literal and m and not os.path.exists("/" + m.group(1)):
            return Kind.SCREEN
        return Kind.PROMPT

    def normalise(self, text: str) -> str:
        return claude_normalise(text)

    def from_itself(self, prompt: str) -> bool:
        """Claude's own prompts: going on after a usage limit reset (2.1.332), a background
        task's notification."""
        start = prompt.lstrip()
        return start.startswith(("Your claude.ai usage limit has reset", "<task-notification>"))

    def received_as_sent(self, reported: str, sent: str) -> bool:
        return prompts_match(reported, sent)

    def resembles(self, reported: str, sent: str) -> bool:
        return super().resembles(claude_normalise(reported), claude_normalise(sent))

    # ----------------------------------------------------------------- the screen
    def screen_state(self, lines: Sequence[str]) -> ScreenState:
        tail = visible_tail(lines, 12)
        dialog = self.dialog(lines, accept_api_key=True)
        if dialog is not None:
            return ScreenState.DIALOG
        if any(marker in line for line in tail for marker in _BUSY_MARKERS) or any(
                _SPINNER_RE.match(line) for line in tail):
            return ScreenState.BUSY
        if input_box(lines) is not None:
            return ScreenState.IDLE
        if _looks_like_question(lines):
            return ScreenState.UNKNOWN_DIALOG
        return ScreenState.STARTING

    def input_pending(self, lines: Sequence[str], text: str) -> bool:
        """The box still holds our text: its first line (bash mode shows `! cmd` for `!cmd`),
        or the placeholder Claude shows for a long paste."""
        held = input_text(lines)
        if not held:
            return False
        if held.startswith("[Pasted text #"):
            return True
        first = _shown(claude_normalise(text)).lstrip().removeprefix("!").strip()
        first = first.split("\n", 1)[0].strip()[:40]
        shown = _shown(held).split("\n", 1)[0].strip().removeprefix("!").strip()
        return bool(first) and shown.startswith(first)

    def closable_view(self, lines: Sequence[str]) -> bool:
        """A panel a slash command opened (help, settings, status, config): no input box on
        screen, and its own footer says Escape closes it (or, in a search field, goes back).

        >>> ClaudeAgent().closable_view(['  Help  General', '  ←/→ to switch · Esc to close'])
        True
        >>> ClaudeAgent().closable_view(['─' * 30, '❯ ', '─' * 30, '  ⏵⏵ bypass · Esc to cancel'])
        False
        """
        if input_box(lines) is not None:
            return False
        return any(_VIEW_FOOTER.search(line) for line in visible_tail(lines, 3))

    def leftover_input(self, lines: Sequence[str]) -> bool:
        held = input_text(lines)
        return bool(held) and held is not None and not held.startswith("Press up to edit")


def _shown(text: str) -> str:
    """Text as tmux shows it: invisible format characters (a zero-width space) are not drawn.

    >>> _shown('\u200b/review')
    '/review'
    """
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def _looks_like_question(lines: Sequence[str]) -> bool:
    """A choice list with a `❯` selector and no input box: some question we do not know.
    Numbered (`❯ 1. Yes`), or unnumbered with a dialog's footer (`Enter to confirm · Esc to
    cancel`) under it, so the echo of a multi-line prompt is not taken for one."""
    if any(re.match(r"^\s*❯\s*\d+\.\s", line) for line in lines):
        return True
    rows = options(lines)
    footer = lines[rows[-1].row + 1:rows[-1].row + 4] if rows else []
    return len(rows) >= 2 and any("to confirm" in ln or "Esc to cancel" in ln for ln in footer)
