"""agents/: Claude's input rules, its command line, its dialogs and its screen, judged on real
captures from Claude Code 2.1.197 (tests/fixtures/screens) where we have them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claude_orchestrator.agents import Agent, ClaudeAgent, ScreenState, select_agent
from claude_orchestrator.agents.base import input_box, input_text, is_rule, strip_furniture
from claude_orchestrator.agents.claude import claude_normalise, prompts_match
from claude_orchestrator.agents.dialogs import (
    KEY_EFFECT_WAIT,
    QUIET,
    key_toward,
    options,
    ready_for_key,
)
from claude_orchestrator.screen import new_lines

SCREENS = Path(__file__).resolve().parents[1] / "fixtures" / "screens"
RULE = "─" * 120
FOOTER = "  ⏵⏵ bypass permissions on (shift+tab to cycle) · ← for agents"
HEADER = ["╭─── Claude Code v2.1.197 ───────────╮", "│ Welcome back!                     │",
          "╰───────────────────────────────────╯", "", ""]

# Stand-ins built from claude-code-facts.md, used only when a capture is missing.
FALLBACK = {
    "claude_trust_dialog.txt": ["", RULE, " Accessing workspace:", "", " /tmp/work", "",
                                " Quick safety check: Is this a project you created or one you "
                                "trust?", "", " ❯ 1. Yes, I trust this folder",
                                "   2. No, exit", "", " Enter to confirm · Esc to cancel"],
    "claude_bypass_dialog.txt": ["", RULE,
                                 "  WARNING: Claude Code running in Bypass Permissions mode", "",
                                 "  ❯ 1. No, exit", "    2. Yes, I accept", "",
                                 "  Enter to confirm · Esc to cancel"],
    "claude_api_key_dialog.txt": ["", RULE, "  Detected a custom API key in your environment", "",
                                  "  ANTHROPIC_API_KEY: sk-ant-...abcdefghij", "",
                                  "  Do you want to use this API key?", "", "    1. Yes",
                                  "  ❯ 2. No (recommended)", "",
                                  "  Enter to confirm · Esc to cancel"],
    "claude_idle.txt": [*HEADER, RULE, "❯\xa0", RULE, FOOTER],
    "claude_busy.txt": [*HEADER, "❯ tell me a long story", "", "●", "",
                        "✢ Flambéing… (1s · ↓ 2 tokens)", "", RULE, "❯\xa0", RULE,
                        "  ⏵⏵ bypass permissions on (shift+tab to cycle) · esc to interrupt"],
    "claude_after_reply.txt": [*HEADER, "❯ what is the answer?", "", "● The answer is 42.", "",
                               "  It has code and bold text.", "", "✻ Crunched for 2s", "", RULE,
                               "❯\xa0", RULE, FOOTER],
    "claude_queued.txt": [*HEADER, "❯ tell me a long story", "", "●", "",
                          "✽ Germinating… (3s · ↓ 18 tokens)", "", "",
                          "  ❯ and then summarise it", RULE,
                          "❯\xa0Press up to edit queued messages", RULE, FOOTER],
    "claude_api_retry.txt": [*HEADER, "❯ this will be retried", "",
                             "✻ API error · Retrying in 7s · attempt 7/10", "", RULE, "❯\xa0",
                             RULE, "  ⏵⏵ bypass permissions on · esc to interrupt"],
    "claude_input_typed.txt": [*HEADER, RULE, "❯\xa0Please refactor the parser module", RULE,
                               FOOTER],
    "claude_input_typed_multiline.txt": [*HEADER, RULE, "❯\xa0first line of the message",
                                         "  second line of the message", RULE, FOOTER],
    "claude_large_paste.txt": [*HEADER, RULE, "❯\xa0[Pasted text #1 +49 lines]", RULE,
                               "  paste again to expand"],
}


def screen(name: str) -> list[str]:
    """A capture as tmux gives it: one string per line, trailing spaces gone."""
    path = SCREENS / name
    if path.exists():
        return [line.rstrip() for line in path.read_text(encoding="utf-8").split("\n")]
    return list(FALLBACK[name])


def fixture_names() -> list[str]:
    found = {p.name for p in SCREENS.glob("claude_*.txt")} if SCREENS.is_dir() else set()
    return sorted(found | set(FALLBACK))


claude = ClaudeAgent()


# ----------------------------------------------------------------------------- prepare
@pytest.mark.parametrize("text", ["/explain the code", "!ls -la",
                                  "/", "!"])
def test_prepare_literal_adds_a_leading_space(text: str) -> None:
    assert claude.prepare(text, literal=True) == " " + text


@pytest.mark.parametrize("text", ["/explain the code", "!ls -la", "#remember this"])
def test_prepare_not_literal_keeps_commands(text: str) -> None:
    assert claude.prepare(text, literal=False) == text


@pytest.mark.parametrize("text", ["plain text", " /already spaced", "a /b", "\n/x", "-x",
                                  "@file is here", "? help", "x\n/not first", "#a note",
                                  "#"])
def test_prepare_leaves_other_text_alone(text: str) -> None:
    assert claude.prepare(text, literal=True) == text


def test_prepare_sanitises() -> None:
    assert claude.prepare("a\x00b\r\nc\td", literal=True) == "ab\nc\td"
    assert claude.prepare("\x07/cmd", literal=True) == " /cmd"


def test_generic_prepare_never_adds_a_space() -> None:
    assert Agent().prepare("/x", literal=True) == "/x"
    assert Agent().normalise("a\tb  ") == "a\tb  "


# ----------------------------------------------------------------------------- normalise
def test_claude_normalise() -> None:
    assert claude_normalise("a\tb  \n\n") == "a    b"
    assert claude_normalise("\tindent") == "    indent"
    assert claude_normalise("  lead kept") == "  lead kept"
    assert claude.normalise("x\t") == "x"


@pytest.mark.parametrize(("reported", "sent"), [
    ("same", "same"),
    ("a    b", "a\tb"),
    ("def f():\n    return 1", "def f():\n\treturn 1"),
    ("trailing", "trailing   "),
    ("trailing", "trailing\n\n"),
    ("trailing", "trailing \t \n"),
    (" /explain", " /explain"),
    ("multi\nline", "multi  \nline"),
])
def test_prompts_match(reported: str, sent: str) -> None:
    assert prompts_match(reported, sent)


@pytest.mark.parametrize(("reported", "sent"), [
    ("hello", "hello world"),
    ("Hello", "hello"),
    ("/explain", " /explain"),
    ("a b", "a  b"),
    ("a\n\nb", "a\nb"),
    ("a\tb", "a  b"),
    ("line1 line2", "line1\nline2"),
    ("", "x"),
])
def test_prompts_do_not_match(reported: str, sent: str) -> None:
    assert not prompts_match(reported, sent)


# ----------------------------------------------------------------------------- command
BASE = ["claude", "--dangerously-skip-permissions", "--setting-sources", "user"]


def test_command_plain() -> None:
    assert claude.command(BASE, settings_path=None, resume_id=None) == BASE


def test_command_adds_settings_and_resume() -> None:
    cmd = claude.command(BASE, settings_path=Path("/run/x/settings.json"), resume_id="abc-123")
    assert cmd == [*BASE, "--settings", "/run/x/settings.json", "--resume", "abc-123"]


def test_command_settings_only() -> None:
    cmd = claude.command(BASE, settings_path=Path("/s.json"), resume_id=None)
    assert cmd == [*BASE, "--settings", "/s.json"]


@pytest.mark.parametrize("extra", [["--continue"], ["-c"], ["--resume", "old-id"],
                                   ["-r", "old-id"]])
def test_command_drops_users_continue_or_resume_when_resuming(extra: list[str]) -> None:
    argv = ["claude", *extra, "--model", "opus"]
    cmd = claude.command(argv, settings_path=None, resume_id="new-id")
    assert cmd == ["claude", "--model", "opus", "--resume", "new-id"]


def test_command_drops_resume_with_equals_when_resuming() -> None:
    cmd = claude.command(["claude", "--resume=old-id", "-p"], settings_path=None,
                         resume_id="new-id")
    assert cmd == ["claude", "-p", "--resume", "new-id"]


def test_command_keeps_users_continue_without_resume() -> None:
    argv = ["claude", "--continue", "--resume", "x"]
    assert claude.command(argv, settings_path=None, resume_id=None) == argv


def test_command_does_not_mutate_argv() -> None:
    argv = ["claude", "--continue"]
    claude.command(argv, settings_path=Path("/s"), resume_id="id")
    assert argv == ["claude", "--continue"]


def test_generic_command_is_argv() -> None:
    assert Agent().command(["aider", "--x"], settings_path=Path("/s"), resume_id="i") == [
        "aider", "--x"]


# ----------------------------------------------------------------------------- select_agent
def test_select_agent() -> None:
    assert isinstance(select_agent("auto", ["claude"]), ClaudeAgent)
    assert isinstance(select_agent("auto", ["/opt/bin/claude", "-x"]), ClaudeAgent)
    assert not isinstance(select_agent("auto", ["aider"]), ClaudeAgent)
    assert not isinstance(select_agent("generic", ["claude"]), ClaudeAgent)
    assert isinstance(select_agent("claude", ["wrapper.sh"]), ClaudeAgent)


# ----------------------------------------------------------------------------- dialogs
def answer(lines: list[str], *, accept_api_key: bool = False) -> tuple[str, ...]:
    """The keys the profile presses for the dialog on this screen, one at a time, with the
    screen redrawn after each arrow key the way Claude does (the marker moves one row)."""
    lines = list(lines)
    keys: list[str] = []
    for _ in range(10):
        d = claude.dialog(lines, accept_api_key=accept_api_key)
        assert d is not None and d.wanted is not None
        key = key_toward(lines, d.wanted, d.heading)
        assert key is not None, lines
        keys.append(key)
        if key == "Enter":
            return tuple(keys)
        rows = options(lines, d.heading)
        cur = next(i for i, o in enumerate(rows) if o.selected)
        nxt = rows[cur + (1 if key == "Down" else -1)]
        lines[rows[cur].row] = lines[rows[cur].row].replace("❯", " ", 1)
        text = lines[nxt.row]
        indent = len(text) - len(text.lstrip())
        lines[nxt.row] = text[:indent - 2] + "❯ " + text[indent:]
    raise AssertionError(f"no Enter after {keys}")


@pytest.mark.parametrize(("name", "keys"), [
    ("claude_trust_dialog.txt", ("Enter",)),  # 2.1.197: `❯ 1. Yes, I trust this folder`
    ("claude332_trust_dialog.txt", ("Down", "Enter")),  # 2.1.332: `❯ No, exit` comes first
    ("claude_bypass_dialog.txt", ("Down", "Enter")),
    ("claude332_bypass_dialog.txt", ("Down", "Enter")),
])
def test_dialogs_answered_by_the_option_text(name: str, keys: tuple[str, ...]) -> None:
    d = claude.dialog(screen(name), accept_api_key=False)
    assert d is not None and d.name == name.split("_")[1]
    assert answer(screen(name)) == keys


def test_only_the_newest_question_counts_after_a_redraw() -> None:
    """Captures from 2.1.332 stopped (SIGSTOP) while its trust question showed and continued:
    the classic renderer draws the new frame below the old ones, and they stay on screen."""
    stacked = screen("claude332_trust_redrawn.txt")
    assert sum("Quick safety check" in ln for ln in stacked) == 3
    d = claude.dialog(stacked, accept_api_key=False)
    assert d is not None and d.name == "trust"
    assert d.heading == max(i for i, ln in enumerate(stacked) if "Quick safety check" in ln)
    assert answer(stacked) == ("Down", "Enter")
    # The bypass warning drawn under the old trust frames is the question now.
    under = screen("claude332_bypass_under_old_trust.txt")
    d = claude.dialog(under, accept_api_key=False)
    assert d is not None and d.name == "bypass" and answer(under) == ("Down", "Enter")
    # Both answered: the old frames stand above the prompt, and are no question.
    idle = screen("claude332_idle_under_old_trust.txt")
    assert claude.dialog(idle, accept_api_key=True) is None
    assert claude.screen_state(idle) is ScreenState.IDLE


@given(now=st.floats(0, 100), drawn=st.floats(0, 100), key=st.none() | st.floats(0, 100),
       unchanged=st.booleans())
def test_a_key_is_chosen_only_on_a_screen_still_since_it_was_drawn_and_since_the_last_key(
        now: float, drawn: float, key: float | None, unchanged: bool) -> None:
    pause = ready_for_key(now, last_output=drawn, last_key_at=key, frame_unchanged=unchanged)
    assert pause >= 0
    if pause == 0:
        assert now - drawn >= QUIET - 1e-6
        assert key is None or now - key >= QUIET - 1e-6
        if key is not None and unchanged and drawn <= key:  # nothing drawn since our key
            assert now - key >= KEY_EFFECT_WAIT - 1e-6
    else:
        later = now + pause
        assert ready_for_key(later, last_output=drawn, last_key_at=key,
                             frame_unchanged=unchanged) == 0


@pytest.mark.parametrize("name", ["claude_api_key_dialog.txt", "claude332_api_key_dialog.txt"])
def test_api_key_dialog_answered_only_when_asked(name: str) -> None:
    lines = screen(name)
    d = claude.dialog(lines, accept_api_key=False)
    assert d is not None and d.wanted is None and "--accept-api-key" in d.hint
    assert answer(lines, accept_api_key=True) == ("Up", "Enter")  # `No (recommended)` is marked


@pytest.mark.parametrize("space", [" ", "\xa0"])
def test_bypass_dialog_with_either_space_after_selector(space: str) -> None:
    lines = [line.replace("❯ ", "❯" + space) for line in screen("claude_bypass_dialog.txt")]
    d = claude.dialog(lines, accept_api_key=True)
    assert d is not None and d.wanted is not None
    assert key_toward(lines, d.wanted, d.heading) == "Down"


def test_no_key_without_a_visible_selector() -> None:
    """A frame drawn before the marker shows gets no key (never a guess): the next one will."""
    lines = [ln.replace("❯", " ") for ln in screen("claude_bypass_dialog.txt")]
    d = claude.dialog(lines, accept_api_key=False)
    assert d is not None and d.wanted is not None
    assert key_toward(lines, d.wanted, d.heading) is None


def test_no_key_when_the_wanted_option_is_missing() -> None:
    lines = [ln.replace("Yes, I trust this folder", "Trust me maybe")
             for ln in screen("claude332_trust_dialog.txt")]
    d = claude.dialog(lines, accept_api_key=False)
    assert d is not None and d.wanted is not None
    assert key_toward(lines, d.wanted, d.heading) is None


@pytest.mark.parametrize("name", ["claude_idle.txt", "claude_busy.txt",
                                  "claude_after_reply.txt", "claude_queued.txt",
                                  "claude_api_retry.txt", "claude_input_typed.txt"])
def test_no_dialog_on_ordinary_screens(name: str) -> None:
    assert claude.dialog(screen(name), accept_api_key=True) is None


def test_generic_agent_knows_no_dialog() -> None:
    assert Agent().dialog(screen("claude_bypass_dialog.txt"), accept_api_key=True) is None


# ----------------------------------------------------------------------------- screen state
EXPECTED_STATE = {
    "claude_idle.txt": ScreenState.IDLE,
    "claude_after_reply.txt": ScreenState.IDLE,
    "claude_after_queue.txt": ScreenState.IDLE,
    "claude_input_typed.txt": ScreenState.IDLE,
    "claude_input_typed_multiline.txt": ScreenState.IDLE,
    "claude_large_paste.txt": ScreenState.IDLE,
    "claude_interrupted.txt": ScreenState.IDLE,
    "claude_api_error.txt": ScreenState.IDLE,
    "claude_api_errors_misc.txt": ScreenState.IDLE,
    "claude_api_error_prompt_too_long.txt": ScreenState.IDLE,
    "claude_api_retry_recovered.txt": ScreenState.IDLE,
    "claude_busy.txt": ScreenState.BUSY,
    "claude_queued.txt": ScreenState.BUSY,
    "claude_api_retry.txt": ScreenState.BUSY,
    "claude_trust_dialog.txt": ScreenState.DIALOG,
    "claude_bypass_dialog.txt": ScreenState.DIALOG,
    "claude_api_key_dialog.txt": ScreenState.DIALOG,
}


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED_STATE
                                        if (SCREENS / n).exists() or n in FALLBACK))
def test_screen_state_on_captures(name: str) -> None:
    assert claude.screen_state(screen(name)) is EXPECTED_STATE[name]


def test_screen_state_spinner_without_esc_hint_is_busy() -> None:
    # the footer does not always say `esc to interrupt` (a paste hint can replace it)
    lines = [*HEADER, "❯ do it", "", "✢ Flambéing… (1s · ↓ 2 tokens)", "", RULE, "❯\xa0", RULE,
             "  paste again to expand"]
    assert claude.screen_state(lines) is ScreenState.BUSY


def test_screen_state_busy_with_blank_rows_below() -> None:
    # `tmux capture-pane` prints every row of the pane: below Claude's footer come empty rows
    lines = [*HEADER, "❯ do it", "", "✢ Flambéing… (1s · ↓ 2 tokens)", "", RULE, "❯\xa0", RULE,
             "  ⏵⏵ bypass permissions on (shift+tab to cycle) · esc to interrupt", *[""] * 30]
    assert claude.screen_state(lines) is ScreenState.BUSY
    assert Agent().screen_state(lines) is ScreenState.BUSY


def test_screen_state_api_retry_with_blank_rows_below() -> None:
    lines = [*HEADER, "❯ go", "", "✻ API error · Retrying in 7s · attempt 7/10", "", RULE,
             "❯\xa0", RULE, FOOTER, *[""] * 30]
    assert claude.screen_state(lines) is ScreenState.BUSY


def test_screen_state_esc_to_interrupt_is_busy() -> None:
    lines = [*HEADER, "❯ do it", "", RULE, "❯\xa0", RULE,
             "  ⏵⏵ bypass permissions on (shift+tab to cycle) · esc to interrupt"]
    assert claude.screen_state(lines) is ScreenState.BUSY


def test_screen_state_starting_and_unknown_dialog() -> None:
    assert claude.screen_state([]) is ScreenState.STARTING
    assert claude.screen_state(["", "", "   "]) is ScreenState.STARTING
    unknown = ["", RULE, "  Choose a theme", "", "  ❯ 1. Dark mode", "    2. Light mode", "",
               "  Enter to confirm"]
    assert claude.screen_state(unknown) is ScreenState.UNKNOWN_DIALOG
    assert claude.dialog(unknown, accept_api_key=True) is None


def test_generic_screen_state() -> None:
    g = Agent()
    assert g.screen_state([]) is ScreenState.STARTING
    assert g.screen_state(["$ ", ""]) is ScreenState.IDLE
    assert g.screen_state(["working", "esc to interrupt"]) is ScreenState.BUSY


# ----------------------------------------------------------------------------- input box
def test_input_box_and_text() -> None:
    idle = screen("claude_idle.txt")
    box = input_box(idle)
    assert box is not None
    assert is_rule(idle[box[0]]) and is_rule(idle[box[1]])
    assert input_text(idle) == ""
    assert input_text(screen("claude_input_typed.txt")) == "Please refactor the parser module"
    assert input_text(screen("claude_input_typed_multiline.txt")) == (
        "first line of the message\nsecond line of the message")
    assert input_text(screen("claude_trust_dialog.txt")) is None


def test_input_pending_true_when_box_holds_the_text() -> None:
    typed = screen("claude_input_typed.txt")
    assert claude.input_pending(typed, "Please refactor the parser module")
    assert claude.input_pending(typed, "Please refactor the parser module\n\nThen run tests.")


def test_input_pending_multiline() -> None:
    lines = screen("claude_input_typed_multiline.txt")
    assert claude.input_pending(lines, "first line of the message\nsecond line of the message")


def test_input_pending_false_for_empty_box() -> None:
    for name in ("claude_idle.txt", "claude_after_reply.txt", "claude_busy.txt"):
        assert not claude.input_pending(screen(name), "what is the answer?"), name


def test_input_pending_false_for_other_text_or_no_box() -> None:
    assert not claude.input_pending(screen("claude_input_typed.txt"), "Write the docs")
    assert not claude.input_pending(screen("claude_trust_dialog.txt"), "anything")
    assert not claude.input_pending(screen("claude_input_typed.txt"), "")


def test_input_pending_false_when_message_is_queued() -> None:
    # queued: the box says "Press up to edit queued messages"; Enter was taken
    assert not claude.input_pending(screen("claude_queued.txt"), "and then summarise it")


def test_input_pending_large_paste_placeholder() -> None:
    # a long paste shows as `[Pasted text #1 +49 lines]` in the box: Enter was not taken yet
    text = "\n".join(f"line {i} of a long task description" for i in range(50))
    assert claude.input_pending(screen("claude_large_paste.txt"), text)


# ----------------------------------------------------------------------------- furniture
def test_strip_furniture_on_real_reply() -> None:
    new = new_lines(screen("claude_idle.txt"), screen("claude_after_reply.txt"))
    assert claude.reply_from_screen(new, "what is the answer?") == (
        "The answer is 42.\n\nIt has code and bold text.")


def test_strip_furniture_after_queue_keeps_only_the_last_reply() -> None:
    lines = screen("claude_after_queue.txt")
    start = next(i for i, ln in enumerate(lines) if ln.startswith("❯ tell me"))
    assert strip_furniture(lines[start:], "and then summarise it") == (
        "ECHO: and then summarise it")


def test_strip_furniture_api_error() -> None:
    lines = screen("claude_api_error.txt")
    start = next(i for i, ln in enumerate(lines) if ln.startswith("❯ this will"))
    assert strip_furniture(lines[start:], "this will fail with 400") == (
        "API Error: 400 messages.0.content: bad things happened")


def test_strip_furniture_keeps_code_indentation() -> None:
    new = ["❯ write f", "", "● Here is the code:", "", "  def f(x):", "      if x:",
           "          return 1", "", "      return 0", "", "  Done.", "",
           "✻ Baked for 3s", "", RULE, "❯\xa0", RULE, FOOTER]
    assert strip_furniture(new, "write f") == (
        "Here is the code:\n\ndef f(x):\n    if x:\n        return 1\n\n    return 0\n\nDone.")


def test_strip_furniture_removes_spinner_and_status_lines() -> None:
    new = ["❯ go", "", "✢ Flambéing… (1s · ↓ 2 tokens)", "✳ Crunching… (3s)", "● ok",
           "✻ Crunched for 6s", "* Worked for 12s", "", RULE, "❯\xa0", RULE,
           "  ⏵⏵ bypass permissions on (shift+tab to cycle) · esc to interrupt"]
    assert strip_furniture(new, "go") == "ok"


def test_strip_furniture_removes_multiline_echo() -> None:
    new = ["❯ line one", "  line two", "  line three", "", "● answer", "  second line", "",
           RULE, "❯\xa0", RULE, FOOTER]
    assert strip_furniture(new, "line one\nline two\nline three") == "answer\nsecond line"


def test_strip_furniture_without_box_or_echo() -> None:
    assert strip_furniture(["● just text", "  more"], "unrelated") == "just text\nmore"
    assert strip_furniture([], "x") == ""


def test_every_capture_loads() -> None:
    for name in fixture_names():
        lines = screen(name)
        assert isinstance(claude.screen_state(lines), ScreenState)


def test_strip_furniture_keeps_indentation_outside_a_bullet_block() -> None:
    """A generic agent's indented output is not Claude's `●` continuation: it stays as is."""
    new = ["$ show config", "config:", "  name: x", "  nested:", "    deep: 1"]
    assert strip_furniture(new, "show config") == "$ show config\nconfig:\n  name: x\n" \
        "  nested:\n    deep: 1"


def test_a_folded_paste_is_ours_with_its_wrapper_and_escaped_tags() -> None:
    """2.1.332 wraps a folded paste and escapes a tag of the wrapper's name inside it."""
    sent = 'a\nb\n<pasted_content id="ab12">\n</pasted_content>\n<\\/pasted_content>\nend\n'
    got = ('\n\n<pasted_content id="1597">\na\nb\n<\\pasted_content id="ab12">\n'
           '<\\/pasted_content>\n<\\/pasted_content>\nend\n</pasted_content id="1597">\n')
    assert prompts_match(got, sent)
    assert not prompts_match(got.replace("end", "END"), sent)


# ----------------------------------------------------------------------------- issue 17, 5
_INVISIBLE = ["\u200b", "\u00ad", "\ufeff", "\u2060", "\u200d", "\u200e", "\u200f", "\u202e",
              "\u2066", "\u061c", "\u180e", "\U000e0041", " ", "\u3000", "\u00a0", "\t"]


def _as_claude_2_1_332(typed: str) -> str:
    """What 2.1.332 holds (measured): format characters removed, an emoji's joiner aside."""
    from claude_orchestrator.agents.claude import without_format

    return without_format(typed)


def _runs_as_command(held: str, commands: frozenset[str]) -> bool:
    """2.1.332 trims the input before it looks a slash command up; `!` first is bash mode."""
    m = re.match(r"^/([a-zA-Z0-9:_-]+)(?=\s|$)", held.strip())
    return bool(m and m.group(1) in commands) or held.startswith("!")


@given(prefix=st.lists(st.sampled_from(_INVISIBLE), max_size=6).map("".join),
       command=st.sampled_from(["/clear it", "/compact now", "/review x", "!rm -rf build",
                                "/explain this"]))
def test_leading_invisible_characters_never_make_a_command(prefix: str, command: str) -> None:
    """`\\u200b/clear it` ran /clear: whatever format and space characters come first, what
    Claude holds after its own stripping is never a command it knows nor bash mode, and it
    still matches what we sent."""
    agent = ClaudeAgent()
    typed = agent.prepare(prefix + command, literal=True)
    for held in (_as_claude_2_1_332(typed), typed):  # 2.1.332 strips them, 2.1.197 keeps them
        assert not _runs_as_command(held, agent.commands), (prefix, command, typed)
    assert prompts_match(_as_claude_2_1_332(typed), typed)


def test_only_invisible_characters_are_nothing_to_send() -> None:
    assert ClaudeAgent().prepare("\u200b\u00ad\ufeff", literal=True) == ""


def test_an_emoji_keeps_its_joiner_a_lone_one_goes() -> None:
    from claude_orchestrator.agents.claude import without_format

    family = "\U0001F468\u200d\U0001F469\u200d\U0001F467"
    assert without_format(f"a\u200db {family}") == f"ab {family}"
    assert prompts_match("middle softhyphen", "mid\u200bdle soft\u00adhyphen")
