"""OpenAI's Codex CLI: exact turns from its hooks, its dialogs by meaning, `codex resume <id>`,
API failures and tokens from its session file.

Measured on Codex 0.171.0 (shared/agent-clis-facts.md, checked and corrected here):
- Hooks come in through `-c` flags, a configuration layer of their own ("session flags"), next to
  the user's `config.toml` and `hooks.json`, whose own hooks still run. Each handler is trusted for
  this process only by `-c hooks.state={"/<session-flags>/config.toml:<event>:0:0" = {trusted_hash
  = "sha256:…"}}`, the hash being Codex's identity of the handler (`codex_hook_hash`): no "Hooks
  need review" question for ours, no `--dangerously-bypass-hook-trust` (which would trust a cloned
  repository's hooks too), nothing written to the user's files.
- SessionStart fires with the first message, not at start-up; the session id and the session file
  (`transcript_path`) come with every event.
- A message sent while Codex works joins the running turn ("steering"): its UserPromptSubmit carries
  that turn's `turn_id`, and that one turn's Stop answers both (`CodexEvents`).
- The thread-title request Codex sends after a first message fires no hook: it never ends a turn.
- No hook fires when the API fails; the session file ends the turn with `task_complete`,
  `last_agent_message: null` and `error {message, codex_error_info}` (`turn_failure`).
- `--no-daemon` keeps Codex from starting its shared background server (`codex app-server
  --managed-daemon`, which starts its own session and outlives the pane).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
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
    visible_tail,
)
from claude_orchestrator.agents.dialogs import newest
from claude_orchestrator.agents.limits import kind_of_status
from claude_orchestrator.agents.prices import Tokens
from claude_orchestrator.agents.releases import agent_release_note
from claude_orchestrator.agents.transcript import entries, positive_int
from claude_orchestrator.runtime.hooks import HookChannel, HookEvent, HookName, hook_command
from claude_orchestrator.screen import sanitize_message

if TYPE_CHECKING:
    from claude_orchestrator.agents.transcript import TurnWork

HOOK_EVENTS = {"SessionStart": "session_start", "UserPromptSubmit": "user_prompt_submit",
               "Stop": "stop"}
HOOK_TIMEOUT = 10  # seconds; a hook never holds Codex longer (the default is 600)
FLAGS_SOURCE = "/<session-flags>/config.toml"
PLACEHOLDERS = ("Ask Codex to do anything", "Ask a follow-up question")
_QUESTIONS = {
    "trust": ("Trust this folder?",),
    "hooks": ("Hooks need review",),
    "login": ("Choose how you want to use Codex", "Sign in with ChatGPT"),
}
_PROMPT = re.compile(r"^[›>] ?(.*)$")
_FOOTER = re.compile(r"^\s+\S.* · [~/]")  # `  gpt-5-codex default · /dir`: model and folder
_QUESTION_ROW = re.compile(r"^\s*[›>]\s*\d+\.\s")
_COMMAND_START = re.compile(r"^[/!]")
# codex_error_info, in StopFailure's words (agents/limits.py decides what each means).
_FAILURES = {
    "usage_limit_exceeded": "rate_limit", "usage_limit_reached": "rate_limit",
    "rate_limit_exceeded": "rate_limit", "session_budget_exceeded": "rate_limit",
    "unauthorized": "authentication_failed", "refresh_token_failed": "authentication_failed",
    "gateway_login_required": "authentication_failed",
    "quota_exceeded": "billing_error", "usage_not_included": "billing_error",
    "access_program_not_enabled": "billing_error", "workspace_access_denied": "billing_error",
    "model_not_found": "model_not_found",
    "context_window_exceeded": "invalid_request", "bad_request": "invalid_request",
    "invalid_request": "invalid_request", "invalid_prompt": "invalid_request",
    "content_filter": "invalid_request", "content_policy_violation": "invalid_request",
    "response_incomplete": "max_output_tokens",
}


def codex_hook_hash(event: str, command: str, timeout: int = HOOK_TIMEOUT) -> str:
    """The hash Codex trusts a command hook by: SHA-256 of the handler's identity as compact
    JSON with sorted keys (measured: it reproduces what Codex 0.171.0 stores after "Trust").

    >>> codex_hook_hash('session_start', '/tmp/exp/hook.sh', 600)[:20]
    'sha256:02d687c2f42eb'
    """
    identity = {"event_name": event, "hooks": [{"async": False, "command": command,
                                                "timeout": timeout, "type": "command"}]}
    data = json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(data).hexdigest()


def hook_flags(command: str) -> list[str]:
    """The `-c` flags that give Codex our hooks and trust exactly those (TOML values)."""
    flags: list[str] = []
    trust: list[str] = []
    for event, label in HOOK_EVENTS.items():
        handler = f"{{type=\"command\",command={json.dumps(command)},timeout={HOOK_TIMEOUT}}}"
        flags += ["-c", f"hooks.{event}=[{{hooks=[{handler}]}}]"]
        key = json.dumps(f"{FLAGS_SOURCE}:{label}:0:0")
        trust.append(f"{key}={{trusted_hash={json.dumps(codex_hook_hash(label, command))}}}")
    return [*flags, "-c", "hooks.state={" + ",".join(trust) + "}"]


class CodexEvents:
    """Codex's hook events as the turn machine reads them. A prompt that joins a running turn
    (same `turn_id`) gets an id of its own (`<turn>/2`, ...), and that turn's Stop ends each of
    its prompts in order, all with the same reply: so a message steered into a busy turn is
    answered by that turn's end, never left waiting for a turn that does not come."""

    def __init__(self) -> None:
        self.open: dict[str, int] = {}  # running turn -> prompts it holds

    def __call__(self, event: HookEvent) -> list[HookEvent]:
        payload = event.payload
        turn = payload.get("turn_id")
        if not isinstance(turn, str) or not turn:
            return [event]
        if event.name == "UserPromptSubmit":
            n = self.open.get(turn, 0) + 1
            self.open[turn] = n
            return [_with(event, prompt_id=turn if n == 1 else f"{turn}/{n}")]
        if event.name == "Stop":
            n = self.open.pop(turn, 1)
            return [_with(event, prompt_id=turn if i == 1 else f"{turn}/{i}")
                    for i in range(1, n + 1)]
        return [_with(event, prompt_id=turn)]


def _with(event: HookEvent, **extra: Any) -> HookEvent:
    return replace(event, payload={**event.payload, **extra})


class CodexAgent(Agent):
    """Codex CLI, driven through its hooks."""

    name = "codex"
    title = "Codex"
    uses_hooks = True
    resumable = True
    has_input_box = True
    start_event_at_launch = False

    def __init__(self) -> None:
        self._flags: list[str] = []

    # ----------------------------------------------------------------- starting
    def install_hooks(self, channel: HookChannel, argv: Sequence[str], *, home: Path,
                      workdir: Path, autonomous: bool,
                      env: Mapping[str, str]) -> HookSetup:
        self._flags = hook_flags(hook_command(channel.events_path, channel.wake_path))
        return HookSetup(list(argv))

    def hook_events(self) -> tuple[HookName, ...]:
        return tuple(HookName(name) for name in HOOK_EVENTS)

    def event_map(self) -> EventMap:
        return CodexEvents()

    def command(self, argv: Sequence[str], *, settings_path: Path | None,
                resume_id: str | None) -> list[str]:
        """`codex [ours] [the user's flags] [resume ID]`: our hooks, no background server
        (unless the user connects to one with `--remote`), no update check at start-up (its
        question would stop the run) unless the user's own `-c` sets one."""
        exe, rest = argv[0], list(argv[1:])
        if resume_id and "resume" in rest:
            rest = rest[:rest.index("resume")]  # ours replaces theirs
        ours: list[str] = []
        if "--no-daemon" not in rest and not any(a.startswith("--remote") for a in rest):
            ours.append("--no-daemon")
        if not any("check_for_update_on_startup" in a for a in rest):
            ours += ["-c", "check_for_update_on_startup=false"]
        out = [exe, *ours, *self._flags, *rest]
        return [*out, "resume", resume_id] if resume_id else out

    def check_release(self, executable: str) -> str | None:
        return agent_release_note("codex", executable)

    def dialog(self, lines: Sequence[str], *, accept_api_key: bool) -> Dialog | None:
        found = newest(lines, _QUESTIONS)
        if found is None or any(_FOOTER.match(ln) for ln in lines[found[1]:]):
            return None
        name, heading = found
        if name == "trust":
            return Dialog("trust", heading, lambda s: s.startswith("Trust and continue"),
                          "accepted Codex's folder-trust question for the working directory")
        if name == "hooks":
            return Dialog("hooks", heading, lambda s: s.startswith("Continue without trusting"),
                          "Codex asks to trust hooks that are not the orchestrator's (yours or "
                          "the repository's): continued without trusting them; review them in "
                          "Codex with /hooks")
        return Dialog("login", heading, None, "", hint=(
            "Codex asks how to sign in: run `codex login` once yourself (or configure a "
            "model provider in ~/.codex/config.toml), then start again"))

    def dialog_view(self, lines: Sequence[str]) -> list[str]:
        return [re.sub(r"^(\s*)[›>] ", r"\1❯ ", ln) for ln in lines]

    def no_conversation(self, screen: str) -> bool:
        return "No saved session found" in screen or "No conversation found" in screen or (
            "not found" in screen and "session" in screen.lower())

    # ----------------------------------------------------------------- delivering
    def prepare(self, text: str, *, literal: bool) -> str:
        """In autonomous mode text starting with `/` or `!` gets one leading space, so Codex
        takes it as a prompt, not as one of its commands or a shell command."""
        text = sanitize_message(text)
        if not text.strip():
            return ""
        return " " + text if literal and _COMMAND_START.match(text) else text

    def kind(self, text: str, *, literal: bool, hooks: bool) -> Kind:
        if not hooks or (not literal and _COMMAND_START.match(text)):
            return Kind.SCREEN  # Codex's own commands fire no hook
        return Kind.PROMPT

    def normalise(self, text: str) -> str:
        """What Codex reports for a pasted text: trailing whitespace trimmed (measured)."""
        return text.rstrip()

    # ----------------------------------------------------------------- the screen
    def screen_state(self, lines: Sequence[str]) -> ScreenState:
        if self.dialog(lines, accept_api_key=True) is not None:
            return ScreenState.DIALOG
        tail = visible_tail(lines, 12)
        if any("esc to interrupt" in ln for ln in tail):
            return ScreenState.BUSY
        if _box(lines) is not None and not any("Waiting for startup" in ln for ln in tail):
            return ScreenState.IDLE
        if any(_QUESTION_ROW.match(ln) for ln in tail):
            return ScreenState.UNKNOWN_DIALOG
        return ScreenState.STARTING

    def input_pending(self, lines: Sequence[str], text: str) -> bool:
        held = _held(lines)
        first = _flat(text.strip().split("\n", 1)[0])[:40]
        return bool(held) and bool(first) and _flat(held.split("\n", 1)[0]).startswith(first)

    def leftover_input(self, lines: Sequence[str]) -> bool:
        return bool(_held(lines))

    def reply_from_screen(self, new: Sequence[str], sent: str) -> str:
        box = _box(list(new))
        lines = list(new[:box[0]] if box else new)
        first = _flat(sent.strip().split("\n", 1)[0])
        start = next((i + 1 for i, ln in enumerate(lines)
                      if _PROMPT.match(ln) and first and _flat(ln[2:]).startswith(first)), 0)
        out = [ln[2:] if ln.startswith(("• ", "  ")) else ln for ln in lines[start:]
               if not ln.lstrip().startswith(("Worked for", "└ Tip"))]
        return "\n".join(out).strip()

    # ----------------------------------------------------------------- after a turn
    def turn_failure(self, transcript: str | None, prompt_id: str | None,
                     screen: Sequence[str]) -> TurnFailure | None:
        """The error Codex's session file gives the turn (`task_complete` with `error`)."""
        if not transcript:
            return None
        turn = prompt_id.split("/", 1)[0] if prompt_id else None
        done: dict[str, Any] | None = None
        limits: dict[str, Any] = {}
        for entry in entries(transcript):
            payload = entry.get("payload")
            if not isinstance(payload, dict) or entry.get("type") != "event_msg":
                continue
            if payload.get("type") == "token_count" and isinstance(payload.get("rate_limits"),
                                                                    dict):
                limits = payload["rate_limits"]
            if payload.get("type") == "task_complete" and (turn is None
                                                           or payload.get("turn_id") == turn):
                done = payload
        error = done.get("error") if done else None
        if not isinstance(error, dict):
            return None
        info = error.get("codex_error_info")
        code = next(iter(info), "") if isinstance(info, dict) else str(info or "")
        kind = _FAILURES.get(code, "server_error" if code else "unknown")
        detail = info.get(code) if isinstance(info, dict) else None
        status = detail.get("http_status_code") if isinstance(detail, dict) else None
        if code not in _FAILURES and isinstance(status, int):
            # `http_connection_failed` and its kin carry only the HTTP status (a custom
            # provider's 401 arrives so, not as `unauthorized`)
            kind = kind_of_status(status)
        message = str(error.get("message") or code)
        reset = _reset_time(limits)
        if kind == "rate_limit" and reset:
            message += f" · resets {reset}"
        return TurnFailure(kind, message)

    def turn_work(self, path: str, offset: int, *, prompt: str | None = None,
                  reply: str | None = None, seen: set[str] | None = None) -> TurnWork:
        """The turn's tokens from the `token_count` entries Codex writes after each model
        answer (`last_token_usage`; OpenAI counts cached input inside input), its shell
        commands and patches; done once the turn's `task_complete` is written."""
        from claude_orchestrator.agents.transcript import ToolUse, TurnWork

        seen = set() if seen is None else seen
        model, total, tools, done = "", Tokens(), [], False
        for entry in entries(path, offset):
            payload = entry.get("payload")
            if not isinstance(payload, dict):
                continue
            kind = payload.get("type")
            if entry.get("type") == "turn_context":
                model = str(payload.get("model") or model)
            elif kind == "token_count" and isinstance(payload.get("info"), dict):
                key = f"{path}:{entry.get('ordinal', entry.get('timestamp'))}"
                usage = payload["info"].get("last_token_usage")
                if key in seen or not isinstance(usage, dict):
                    continue
                seen.add(key)
                cached = positive_int(usage, "cached_input_tokens")
                total = total + Tokens(model, positive_int(usage, "input_tokens") - cached,
                                       positive_int(usage, "output_tokens"), 0, cached)
            elif kind in ("function_call", "custom_tool_call", "local_shell_call"):
                tools.append(ToolUse(str(payload.get("name") or kind), _tool_detail(payload)))
            elif kind == "task_complete":
                done = True
        tokens = [replace(total, model=total.model or model)] if total.total else []
        return TurnWork(tokens, tools, done)


def _box(lines: Sequence[str]) -> tuple[int, int] | None:
    """The input box: the last `›` line and the footer (model · folder) under it."""
    footer = next((i for i in range(len(lines) - 1, -1, -1) if _FOOTER.match(lines[i])), None)
    if footer is None:
        return None
    top = next((i for i in range(footer - 1, -1, -1) if _PROMPT.match(lines[i])), None)
    return (top, footer) if top is not None else None


def _held(lines: Sequence[str]) -> str:
    """What the input box holds (its placeholder counts as nothing)."""
    box = _box(lines)
    if box is None:
        return ""
    top, footer = box
    first = _PROMPT.match(lines[top])
    parts = [first.group(1) if first else "", *(ln[2:] for ln in lines[top + 1:footer])]
    held = "\n".join(parts).strip()
    return "" if held in PLACEHOLDERS else held


def _flat(text: str) -> str:
    """Whitespace runs as one space (the box shows a tab as spaces)."""
    return " ".join(text.split())


def _tool_detail(payload: dict[str, Any]) -> str:
    raw = payload.get("arguments") or payload.get("input") or ""
    try:
        args = json.loads(raw) if isinstance(raw, str) and raw.startswith("{") else raw
    except ValueError:
        args = raw
    if isinstance(args, dict):
        cmd = args.get("cmd") or args.get("command") or next(iter(args.values()), "")
        return (" ".join(cmd) if isinstance(cmd, list) else str(cmd))[:2000]
    return str(args)[:2000]


def _reset_time(limits: dict[str, Any]) -> str:
    """When the nearest usage window resets, as `11:01pm (UTC)` (agents/limits.py reads it)."""
    windows = [w for w in (limits.get("primary"), limits.get("secondary")) if isinstance(w, dict)]
    stamps = [float(w["resets_at"]) for w in windows
              if isinstance(w.get("resets_at"), (int, float)) and w["resets_at"] > 0]
    if not stamps:
        return ""
    when = datetime.fromtimestamp(min(stamps), tz=UTC)
    return when.strftime("%I:%M%p").lstrip("0").lower() + " (UTC)"
