"""Google's Gemini CLI: exact turns from its hooks (BeforeAgent as the prompt's submission,
AfterAgent as the turn's end), its dialogs by meaning, `--resume <id>`, tokens from its session
file.

Measured on Gemini CLI 0.61.0 (shared/agent-clis-facts.md, checked and corrected here):
- A system settings file (`GEMINI_CLI_SYSTEM_SETTINGS_PATH`) is read only when it and every folder
  above it belong to root and nobody else may write them: no place for a user's tool. So the
  hooks go into a private home (`GEMINI_CLI_HOME`, where Gemini looks for `.gemini/`): its
  `settings.json` is the user's own with our hooks added; every other entry links to the user's
  `~/.gemini` (sessions, trusted folders, credentials, history), so Gemini keeps its state where
  the user has it, and `gemini --resume` from the user's shell finds the conversation.
- SessionStart fires once the start-up questions are answered (folder trust, auth): the input box
  shows a second before the trust question, so the prompt counts only after it.
- BeforeAgent carries `prompt` (trailing whitespace trimmed); AfterAgent's `prompt_response` joins
  the streamed pieces of the reply with spaces (`ECHO: slow one` arrived as `SLOW: slow one W:
  sl ow  o ne` for a reply sent in six pieces): the exact reply is the session file's last
  `gemini` entry (`transcript_path`), written before AfterAgent fires.
- A message sent while Gemini works is queued and submitted when the turn ends (BeforeAgent
  then): turns follow each other, so no ids are needed.
- No hook fires while it retries a 5xx (`general.maxAttempts`, 10 by default, waits of 5-30 s)
  nor when it gives up; the screen then shows the error. An error it does not retry (a 401)
  ends with AfterAgent all the same (`[no response text]`): the session file's `error` entry
  (`[API Error: {"error":{"code":401,…}}]`) tells it from a reply.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claude_orchestrator.agents.base import (
    Agent,
    Dialog,
    EventMap,
    HookSetup,
    Kind,
    ScreenState,
    TurnFailure,
    is_rule,
    visible_tail,
)
from claude_orchestrator.agents.dialogs import key_toward, newest
from claude_orchestrator.agents.limits import kind_of_status
from claude_orchestrator.agents.prices import Tokens
from claude_orchestrator.agents.releases import agent_release_note
from claude_orchestrator.agents.transcript import entries, positive_int
from claude_orchestrator.runtime.hooks import (
    HookChannel,
    HookEvent,
    HookName,
    hook_command,
    merge_settings,
)
from claude_orchestrator.runtime.state import write_private
from claude_orchestrator.screen import sanitize_message

# Variables whose presence makes Gemini run headless (read in its `isHeadlessMode`, 0.61.0).
HEADLESS_SIGNS = ("CI", "GITHUB_ACTIONS")

if TYPE_CHECKING:
    from claude_orchestrator.agents.transcript import TurnWork

HOOK_EVENTS = ("SessionStart", "BeforeAgent", "AfterAgent", "SessionEnd")
_MEANS = {"BeforeAgent": "UserPromptSubmit", "AfterAgent": "Stop"}
PLACEHOLDER = "Type your message or @path/to/file"
_QUESTIONS = {
    "trust": ("Do you trust the files in this folder?",),
    "auth": ("How would you like to authenticate",),
}
RESTARTING = "Gemini CLI is restarting"
LIMIT_QUESTION = "Usage limit reached for"
_BOX_LINE = re.compile(r"^ ([*>!]) {1,3}(.*)$")
_BORDER = re.compile(r"^\s*│(.*?)│?\s*$")
_COMMAND_START = re.compile(r"^[/!@]")
_ERROR = re.compile(r"^\s*✕\s*(.*)$")
REPLY_WAIT = 0.5  # at most this long for the reply's line in the session file


class GeminiEvents:
    """Gemini's hook events as the turn machine reads them: BeforeAgent is the submission
    (UserPromptSubmit), AfterAgent the turn's end (Stop) with the exact reply from the session
    file (its `prompt_response` is not exact, see the module's notes). An AfterAgent after an
    API error Gemini does not retry (a 401: the session file's `error` entry, and
    `[no response text]` as the hook's reply) is a StopFailure, as Claude reports it."""

    def __call__(self, event: HookEvent) -> list[HookEvent]:
        name = _MEANS.get(event.name)
        if name is None:
            return [event]
        payload = dict(event.payload)
        payload["hook_event_name"] = name
        if name == "Stop":
            outcome = turn_outcome(str(payload.get("transcript_path") or ""),
                                   str(payload.get("prompt") or ""))
            match outcome:
                case TurnFailure(error=kind, message=message):
                    name = "StopFailure"
                    payload.update(hook_event_name=name, error=kind,
                                   last_assistant_message=message)
                case str(exact):
                    payload["last_assistant_message"] = exact
                case None:
                    payload["last_assistant_message"] = str(payload.get("prompt_response") or "")
        return [replace(event, name=name, payload=payload)]


# A status Gemini writes out: first after `API Error:`, after `status`/`code`, or in brackets.
_STATUS = re.compile(r"(?:API Error:\s*\[?|\bstatus(?:\s*code)?\s*[:=]?\s*|\bcode\s*[:=]\s*|\()"
                     r"([1-5]\d\d)(?![\d.])", re.IGNORECASE)


def turn_outcome(path: str, prompt: str, wait: float = REPLY_WAIT) -> str | TurnFailure | None:
    """How the turn for `prompt` ended in a Gemini session file: the text of the last `gemini`
    entry after the last user entry for `prompt`, or the API error recorded after it when no
    reply followed (None when neither is there within `wait` seconds)."""
    deadline = time.monotonic() + wait
    while True:
        found: str | TurnFailure | None = None
        for entry in entries(path):
            kind = entry.get("type")
            if kind == "user" and _user_text(entry).rstrip() == prompt.rstrip():
                found = None
            elif kind == "gemini" and isinstance(entry.get("content"), str) and (
                    entry["content"]):
                found = entry["content"]
            elif kind == "error" and "API Error" in str(entry.get("content") or ""):
                found = api_failure(str(entry["content"]))
        if found is not None or time.monotonic() >= deadline or not path:
            return found
        time.sleep(0.02)


def api_failure(text: str) -> TurnFailure:
    """Gemini's `[API Error: …]` in StopFailure's words: by the HTTP status in the JSON it
    quotes (`{"error": {"code": 401, …}}`), else by a status it writes out (`API Error: 401 …`,
    `status: 503`, `(429)`), else by its words. A number elsewhere in the text (a request id,
    a token count) is never taken for a status: a 503 read as a 401 would stop the run.

    >>> api_failure('[API Error: {"error":{"code":401,"message":"bad key"}}]').error
    'authentication_failed'
    >>> api_failure('[API Error: got status: 503 Service Unavailable]').error
    'server_error'
    >>> api_failure('[API Error: 503 busy, request 4019-401 after 401 ms]').error
    'server_error'
    """
    m = re.search(r"\{.*\}", text)
    with contextlib.suppress(ValueError):
        error = json.loads(m.group(0)).get("error") if m else None
        code = error.get("code") if isinstance(error, dict) else None
        if isinstance(code, int):
            return TurnFailure(kind_of_status(code), text)
    status = _STATUS.search(text)
    if status:
        return TurnFailure(kind_of_status(int(status.group(1))), text)
    low = text.lower()
    kind = "server_error"
    if any(w in low for w in ("api key", "unauthenticated", "permission_denied")):
        kind = "authentication_failed"
    elif "quota" in low or "resource_exhausted" in low:
        kind = "rate_limit"
    elif "not found" in low:
        kind = "model_not_found"
    elif "invalid_argument" in low:
        kind = "invalid_request"
    return TurnFailure(kind, text)


class GeminiAgent(Agent):
    """Gemini CLI, driven through its hooks."""

    name = "gemini"
    title = "Gemini CLI"
    uses_hooks = True
    resumable = True
    has_input_box = True
    ready_after_start_event = True
    # An Enter within 40 ms of a paste (or 30 ms of a key) is taken as a new line (read in
    # its code: `recentUnsafePasteTime`, `FAST_RETURN_TIMEOUT`); that 40 ms is a timer of its
    # event loop, which runs late while it draws a long paste on a busy machine (measured: an
    # Enter 80 ms after a 4-line paste became a new line, 1 run in 2 beside other tests).
    paste_settle = 0.25

    # ----------------------------------------------------------------- starting
    def pane_environment(self, env: Mapping[str, str]) -> dict[str, str]:
        """Gemini's environment without the two variables that tell it it runs in CI
        (`CI=true`, `GITHUB_ACTIONS=true`; its `isHeadlessMode`): with either, it starts
        without its interface even in a terminal and exits at once in a new folder (55,
        untrusted workspace) or asks for a prompt on stdin (42). Its pane is a terminal we
        drive, so it must not believe it is headless; the commands it runs lose them too
        (only when set to `true`, the one value it reads)."""
        return {k: v for k, v in env.items() if not (k in HEADLESS_SIGNS and v == "true")}

    def install_hooks(self, channel: HookChannel, argv: Sequence[str], *, home: Path,
                      workdir: Path, autonomous: bool,
                      env: Mapping[str, str]) -> HookSetup:
        """A private home for Gemini (`GEMINI_CLI_HOME`): the user's settings with our hooks,
        and links to everything else in their `~/.gemini`."""
        theirs = Path(env.get("GEMINI_CLI_HOME") or home) / ".gemini"
        overlay = channel.folder / "gemini-home"
        ours = overlay / ".gemini"
        ours.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            user = json.loads((theirs / "settings.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            user = {}
        settings = merge_settings(user if isinstance(user, dict) else {},
                                  hook_command(channel.events_path, channel.wake_path),
                                  HOOK_EVENTS)
        write_private(ours / "settings.json", json.dumps(settings, indent=1).encode())
        link_state(theirs, ours)
        # Its trust answers go to the user's own list (Gemini replaces a link with a file).
        trust = env.get("GEMINI_CLI_TRUSTED_FOLDERS_PATH") or str(theirs / "trustedFolders.json")
        return HookSetup(list(argv), env={"GEMINI_CLI_HOME": str(overlay),
                                          "GEMINI_CLI_TRUSTED_FOLDERS_PATH": trust},
                         settings_path=ours / "settings.json")

    def hook_events(self) -> tuple[HookName, ...]:
        """The meanings we listen to (Gemini's own names are HOOK_EVENTS, mapped by
        GeminiEvents)."""
        return (HookName.SESSION_START, HookName.USER_PROMPT_SUBMIT, HookName.STOP,
                HookName.SESSION_END)

    def event_map(self) -> EventMap:
        return GeminiEvents()

    def command(self, argv: Sequence[str], *, settings_path: Path | None,
                resume_id: str | None) -> list[str]:
        out: list[str] = []
        skip = False
        for a in argv:  # the user's own `--resume` would fight ours
            if skip:
                skip = False
            elif resume_id and a in ("--resume", "-r"):
                skip = True
            elif not (resume_id and a.startswith("--resume=")):
                out.append(a)
        return [*out, "--resume", resume_id] if resume_id else out

    def check_release(self, executable: str) -> str | None:
        return agent_release_note("gemini", executable)

    def dialog(self, lines: Sequence[str], *, accept_api_key: bool) -> Dialog | None:
        lines = _after_restart(lines)
        found = newest(lines, _QUESTIONS)
        if found is None or _box(lines[found[1]:]) is not None:
            return None
        name, heading = found
        if name == "trust":
            return Dialog("trust", heading, lambda s: s.startswith("Trust folder"),
                          "accepted Gemini's folder-trust question for the working directory")
        if accept_api_key:
            return Dialog("auth", heading, lambda s: s.startswith("Use Gemini API Key"),
                          "told Gemini to use GEMINI_API_KEY (--accept-api-key)")
        return Dialog("auth", heading, None, "", hint=(
            "Gemini asks how to sign in: set security.auth.selectedType in ~/.gemini/"
            "settings.json, or answer with the API key with --accept-api-key"))

    def turn_question_key(self, lines: Sequence[str]) -> str | None:
        """Its usage-limit question (`Usage limit reached for MODEL` … `1. Keep trying`,
        `2. Stop`; Google's daily quota, measured on 0.61.0): Stop. The turn then ends with
        AfterAgent and the error in the session file (a StopFailure `rate_limit`), and the run
        pauses as for any limit; `Keep trying` would ask again at once, and Escape leaves the
        question open."""
        lines = _after_restart(lines)
        found = newest(lines, {"limit": (LIMIT_QUESTION,)})
        if found is None or _box(lines[found[1]:]) is not None:
            return None
        return key_toward(self.dialog_view(lines), lambda s: s == "Stop", found[1])

    def dialog_view(self, lines: Sequence[str]) -> list[str]:
        out = []
        for ln in lines:
            m = _BORDER.match(ln)
            inner = m.group(1) if m else ln
            out.append(re.sub(r"^(\s*)● ", r"\1❯ ", inner.rstrip()))
        return out

    def no_conversation(self, screen: str) -> bool:
        return "No previous sessions found" in screen or (
            "session" in screen.lower() and "not found" in screen.lower())

    # ----------------------------------------------------------------- delivering
    def prepare(self, text: str, *, literal: bool) -> str:
        """In autonomous mode text starting with `/`, `!` or `@` gets one leading space, so
        Gemini takes it as a prompt, not a command, shell mode or a file to attach."""
        text = sanitize_message(text)
        if not text.strip():
            return ""
        return " " + text if literal and _COMMAND_START.match(text) else text

    def kind(self, text: str, *, literal: bool, hooks: bool) -> Kind:
        if not hooks or (not literal and text.startswith(("/", "!"))):
            return Kind.SCREEN
        return Kind.PROMPT

    def normalise(self, text: str) -> str:
        return text.rstrip()

    # ----------------------------------------------------------------- the screen
    def screen_state(self, lines: Sequence[str]) -> ScreenState:
        lines = _after_restart(lines)
        if self.dialog(lines, accept_api_key=True) is not None:
            return ScreenState.DIALOG
        tail = visible_tail(lines, 12)
        if any("esc to cancel" in ln for ln in tail):
            return ScreenState.BUSY
        if _box(lines) is not None:
            return ScreenState.IDLE
        if any(re.match(r"^\s*│?\s*●\s*\d+\.\s", ln) for ln in tail):
            return ScreenState.UNKNOWN_DIALOG
        return ScreenState.STARTING

    def input_pending(self, lines: Sequence[str], text: str) -> bool:
        """Our text still waits in the box. While Gemini runs the hooks of a submitted prompt
        (`Executing Hook: …` above the box) the text stays there: it was taken."""
        if any("Executing Hook" in ln for ln in visible_tail(lines, 12)):
            return False
        held = _held(lines)
        first = " ".join(text.strip().split("\n", 1)[0].split())[:40]
        return bool(held) and bool(first) and " ".join(held.split()).startswith(first)

    def leftover_input(self, lines: Sequence[str]) -> bool:
        return bool(_held(lines))

    def reply_from_screen(self, new: Sequence[str], sent: str) -> str:
        box = _box(list(new))
        lines = list(new[:box[0]] if box else new)
        out = [ln[2:] if ln.startswith(("✦ ", "  ")) else ln for ln in lines
               if not ln.startswith(" > ") and not is_rule(ln) and "? for shortcuts" not in ln]
        return "\n".join(out).strip()

    # ----------------------------------------------------------------- after a turn
    def turn_failure(self, transcript: str | None, prompt_id: str | None,
                     screen: Sequence[str]) -> TurnFailure | None:
        """Gemini gave up on its API: the error it shows (`✕ [API Error: …]`)."""
        for line in reversed(list(screen)):
            m = _ERROR.match(line)
            if m and "API Error" in line:
                return api_failure(m.group(1))
        return None

    def turn_work(self, path: str, offset: int, *, prompt: str | None = None,
                  reply: str | None = None, seen: set[str] | None = None) -> TurnWork:
        """The turn's tokens from the `tokens` of each `gemini` entry after its prompt (input
        includes cached input; thoughts are billed as output)."""
        from claude_orchestrator.agents.transcript import ToolUse, TurnWork

        seen = set() if seen is None else seen
        by_model: dict[str, Tokens] = {}
        tools: list[ToolUse] = []
        done = False
        for entry in entries(path, offset):
            if entry.get("type") != "gemini":
                continue
            for call in entry.get("toolCalls") or []:
                if isinstance(call, dict):
                    tools.append(ToolUse(str(call.get("name") or "?"),
                                         json.dumps(call.get("args") or {})[:2000]))
            usage, mid = entry.get("tokens"), str(entry.get("id") or "")
            if isinstance(usage, dict) and mid and mid not in seen:
                seen.add(mid)
                model = str(entry.get("model") or "")
                cached = positive_int(usage, "cached")
                output = positive_int(usage, "output") + positive_int(usage, "thoughts")
                add = Tokens(model, positive_int(usage, "input") - cached, output, 0, cached)
                by_model[model] = by_model.get(model, Tokens(model)) + add
            if reply is not None and str(entry.get("content") or "").strip() == reply.strip():
                done = True
        return TurnWork(list(by_model.values()), tools, done)


def link_state(theirs: Path, ours: Path) -> None:
    """Link every entry of the user's `.gemini` but settings.json into ours, and its sessions
    folder even when it does not exist yet."""
    with contextlib.suppress(OSError):
        theirs.mkdir(mode=0o700, exist_ok=True)
        (theirs / "tmp").mkdir(mode=0o700, exist_ok=True)
    names = {"tmp"}
    with contextlib.suppress(OSError):
        names |= {p.name for p in theirs.iterdir()}
    for name in sorted(names - {"settings.json", "trustedFolders.json"}):
        link = ours / name
        with contextlib.suppress(OSError):
            if link.is_symlink() or link.exists():
                continue
            os.symlink(theirs / name, link)


def _after_restart(lines: Sequence[str]) -> list[str]:
    """Only what Gemini drew since it last restarted itself (after the trust question)."""
    starts = [i for i, ln in enumerate(lines) if RESTARTING in ln]
    return list(lines[starts[-1] + 1:] if starts else lines)


def _box(lines: Sequence[str]) -> tuple[int, int] | None:
    """The input box: the prompt line (` * `, ` > `) under the last rule."""
    rules = [i for i, ln in enumerate(lines) if is_rule(ln)]
    for top in reversed(rules):
        for i in range(top + 1, min(len(lines), top + 4)):
            if _BOX_LINE.match(lines[i]):
                end = next((j for j in range(i + 1, len(lines))
                            if not lines[j].startswith("   ") or not lines[j].strip()), len(lines))
                return i, end
    return None


def _held(lines: Sequence[str]) -> str:
    box = _box(lines)
    if box is None:
        return ""
    first = _BOX_LINE.match(lines[box[0]])
    parts = [first.group(2) if first else "", *(ln[3:] for ln in lines[box[0] + 1:box[1]])]
    held = "\n".join(parts).strip()
    return "" if held == PLACEHOLDER else held


def _user_text(entry: dict[str, Any]) -> str:
    content = entry.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""
