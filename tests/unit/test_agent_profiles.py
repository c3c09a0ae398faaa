"""The Codex and Gemini profiles as pure functions: their screens (captured from Codex 0.171.0
and Gemini CLI 0.61.0 in tmux), their hook events mapped onto the turn machine's, their session
files read for failures and tokens."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from claude_orchestrator.agents import select_agent
from claude_orchestrator.agents.base import ScreenState
from claude_orchestrator.agents.codex import CodexAgent, CodexEvents, codex_hook_hash, hook_flags
from claude_orchestrator.agents.dialogs import key_toward
from claude_orchestrator.agents.gemini import GeminiAgent, GeminiEvents, api_failure
from claude_orchestrator.agents.limits import kind_of_status
from claude_orchestrator.runtime.hooks import HookEvent
from claude_orchestrator.turn.ledger import Ledger, Waiting, prompt_id_of

RULE = "─" * 120
CODEX_TRUST = [
    "  Folder access", "  /tmp/exp/cwork",
    "  Trust this folder? Codex can read, edit, and run files here, subject to your permission",
    "› 1. Trust and continue", "  2. Back to Agent Command Center", "  enter continue · esc back"]
CODEX_HOOKS = [
    "  Hooks need review", "  3 hooks are new or changed.",
    "  Hooks can run outside the sandbox after you trust them.", "› 1. Review hooks",
    "  2. Trust all and continue", "  3. Continue without trusting (hooks won't run)",
    "  enter confirm · esc skip"]
CODEX_LOGIN = [
    "  Welcome to Codex, OpenAI's command-line coding agent",
    "  Choose how you want to use Codex.", "> 1. Sign in with ChatGPT",
    "     Usage included with Plus, Pro, Business, and Enterprise plans",
    "  2. Sign in with Device Code", "  Press enter to continue"]
CODEX_STARTING = ["     /tmp/exp/cwork4", "› Ask Codex to do anything", "  ? for shortcuts"]
CODEX_IDLE = ["› hello codex", "• ECHO: hello codex", "  Worked for <1s • 9:20 PM",
              "› Ask Codex to do anything", "  gpt-5-codex default · /tmp/exp/cwork",
              "  ← for agents · ? for shortcuts"]
CODEX_TYPED = ["› hello `codex`", "  second line tab", "  gpt-5-codex default · /tmp/exp/cwork"]
CODEX_BUSY = ["› please fail500 now", "◦ Reconnecting... 1/5 (5s • esc to interrupt)",
              "› Ask Codex to do anything", "  gpt-5-codex default · /tmp/exp/cwork"]
GEMINI_TRUST = [
    " ╭" + "─" * 60 + "╮", " │ Do you trust the files in this folder?" + " " * 20 + "│",
    " │ ● 1. Trust folder (gwork)" + " " * 33 + "│",
    " │   2. Trust parent folder (exp)" + " " * 28 + "│",
    " │   3. Don't trust" + " " * 42 + "│", " ╰" + "─" * 60 + "╯"]
GEMINI_AUTH = [
    "│ ? Get started                                       │",
    "│   How would you like to authenticate for this project? │",
    "│     1. Sign in with Google                          │",
    "│   ● 2. Use Gemini API Key                           │",
    "│     3. Vertex AI                                    │"]
GEMINI_IDLE = [" > hello `gem`", "✦ ECHO: hello gem", RULE, " YOLO Ctrl+Y",
               " *   Type your message or @path/to/file", " workspace (/directory)    sandbox"]
GEMINI_TYPED = [RULE, " YOLO Ctrl+Y", " * hello `gem`", "   second    tab",
                " workspace (/directory)    sandbox"]
GEMINI_BUSY = [" > slow one", " ⠏ Thinking... (esc to cancel, 3s)     ? for shortcuts", RULE,
               " *   Type your message or @path/to/file"]


def ev(name: str, pos: int, **payload: object) -> HookEvent:
    return HookEvent(pos, name, {"hook_event_name": name, **payload})


def test_auto_chooses_the_profile_by_the_commands_name() -> None:
    assert select_agent("auto", ["/opt/bin/codex", "--yolo"]).name == "codex"
    assert select_agent("auto", ["gemini", "-m", "x"]).name == "gemini"
    assert select_agent("codex", ["my-wrapper"]).name == "codex"


def test_codex_hook_flags_are_toml_and_trust_exactly_our_handlers() -> None:
    flags = hook_flags("sh -c 'x'")
    values = [flags[i + 1] for i, f in enumerate(flags) if f == "-c"]
    parsed = [tomllib.loads(v) for v in values]
    state = parsed[-1]["hooks"]["state"]
    assert set(state) == {f"/<session-flags>/config.toml:{e}:0:0"
                          for e in ("session_start", "user_prompt_submit", "stop")}
    stop = state["/<session-flags>/config.toml:stop:0:0"]["trusted_hash"]
    assert stop == codex_hook_hash("stop", "sh -c 'x'")
    # The value Codex 0.171.0 itself stored after "Trust all" for this handler (timeout 600).
    assert codex_hook_hash("stop", "/tmp/exp/hook.sh", 600) == (
        "sha256:c02e80326074af9b09c1f3fdc0440aed4433a170a4adc50e3e6f293bae939fd8")


def test_codex_command_adds_hooks_no_daemon_and_resume() -> None:
    agent = CodexAgent()
    agent._flags = ["-c", "hooks.X=[]"]
    argv = agent.command(["codex", "--yolo", "resume", "old"], settings_path=None,
                         resume_id="new-id")
    assert argv[:2] == ["codex", "--no-daemon"]
    assert argv[-3:] == ["--yolo", "resume", "new-id"] and "old" not in argv
    assert "--no-daemon" not in agent.command(["codex", "--remote", "ws://h:1"],
                                              settings_path=None, resume_id=None)


def test_a_prompt_steered_into_codexs_running_turn_is_answered_by_that_turns_stop() -> None:
    """Measured: the second UserPromptSubmit carries the busy turn's id and one Stop follows."""
    events = CodexEvents()
    raw = [ev("UserPromptSubmit", 1, turn_id="T", prompt="typed by a person"),
           ev("UserPromptSubmit", 2, turn_id="T", prompt="ours"),
           ev("Stop", 3, turn_id="T", last_assistant_message="ECHO: ours")]
    mapped = [out for e in raw for out in events(e)]
    assert [(e.name, prompt_id_of(e.payload)) for e in mapped] == [
        ("UserPromptSubmit", "T"), ("UserPromptSubmit", "T/2"), ("Stop", "T"), ("Stop", "T/2")]
    ledger = Ledger().submitted("T", "typed by a person")[0]
    ledger, ahead = ledger.submitted("T/2", "ours", ours=True)
    waiting = Waiting(ahead)
    ledger, closed = ledger.close("T", "ECHO: ours")
    mine, waiting = waiting.ends_ours(closed)
    assert not mine
    ledger, closed = ledger.close("T/2", "ECHO: ours")
    assert waiting.ends_ours(closed)[0]
    assert ledger.open == ()


def test_codex_screens_are_read_by_meaning() -> None:
    codex = CodexAgent()
    assert codex.screen_state(CODEX_STARTING) is ScreenState.STARTING  # trust may still come
    assert codex.screen_state(CODEX_IDLE) is ScreenState.IDLE
    assert codex.screen_state(CODEX_BUSY) is ScreenState.BUSY
    assert codex.screen_state(CODEX_TRUST) is ScreenState.DIALOG
    assert not codex.leftover_input(CODEX_IDLE)
    assert codex.input_pending(CODEX_TYPED, "hello `codex`\nsecond line\ttab")
    trust = codex.dialog(CODEX_TRUST, accept_api_key=False)
    assert trust is not None and trust.wanted is not None
    assert key_toward(codex.dialog_view(CODEX_TRUST), trust.wanted, trust.heading) == "Enter"
    hooks = codex.dialog(CODEX_HOOKS, accept_api_key=False)
    assert hooks is not None and hooks.wanted is not None  # never "Trust all"
    assert key_toward(codex.dialog_view(CODEX_HOOKS), hooks.wanted, hooks.heading) == "Down"
    login = codex.dialog(CODEX_LOGIN, accept_api_key=True)
    assert login is not None and login.wanted is None and "codex login" in login.hint


def test_gemini_screens_are_read_by_meaning() -> None:
    gemini = GeminiAgent()
    assert gemini.screen_state(GEMINI_IDLE) is ScreenState.IDLE
    assert gemini.screen_state(GEMINI_BUSY) is ScreenState.BUSY
    assert gemini.screen_state(GEMINI_TRUST) is ScreenState.DIALOG
    assert not gemini.leftover_input(GEMINI_IDLE)
    assert gemini.input_pending(GEMINI_TYPED, "hello `gem`\nsecond\ttab")
    trust = gemini.dialog(GEMINI_TRUST, accept_api_key=False)
    assert trust is not None and trust.wanted is not None
    assert key_toward(gemini.dialog_view(GEMINI_TRUST), trust.wanted, trust.heading) == "Enter"
    auth = gemini.dialog(GEMINI_AUTH, accept_api_key=True)
    assert auth is not None and auth.wanted is not None
    assert key_toward(gemini.dialog_view(GEMINI_AUTH), auth.wanted, auth.heading) == "Enter"
    refused = gemini.dialog(GEMINI_AUTH, accept_api_key=False)
    assert refused is not None and refused.wanted is None


GEMINI_LIMIT = """\
 > build it
╭──────────────────────────────────────────────────────────────────╮
│                                                                  │
│ Usage limit reached for gemini-2.5-flash.                        │
│ /stats model for usage details                                   │
│ /model to switch models.                                         │
│                                                                  │
│ ● 1. Keep trying                                                 │
│   2. Stop                                                        │
│                                                                  │
╰──────────────────────────────────────────────────────────────────╯""".splitlines()


def test_geminis_usage_limit_question_mid_turn_is_answered_stop() -> None:
    gemini = GeminiAgent()
    assert gemini.turn_question_key(GEMINI_LIMIT) == "Down"
    on_stop = [ln.replace("● 1.", "  1.").replace("  2. Stop", "● 2. Stop")
               for ln in GEMINI_LIMIT]
    assert gemini.turn_question_key(on_stop) == "Enter"
    answered = [*GEMINI_LIMIT, "✕ [API Error: You have exhausted your daily quota on this model.]",
                *GEMINI_IDLE]
    assert gemini.turn_question_key(answered) is None  # the box is back: it was answered
    assert gemini.turn_question_key(GEMINI_TRUST) is None
    assert CodexAgent().turn_question_key(GEMINI_LIMIT) is None


def test_gemini_is_not_told_it_runs_in_ci_since_it_would_start_headless() -> None:
    env = {"CI": "true", "GITHUB_ACTIONS": "true", "PATH": "/bin", "CI_JOB": "7"}
    assert GeminiAgent().pane_environment(env) == {"PATH": "/bin", "CI_JOB": "7"}
    assert GeminiAgent().pane_environment({"CI": "1"}) == {"CI": "1"}  # it reads only `true`
    assert CodexAgent().pane_environment(env) == env  # only Gemini reads them so


def test_geminis_turn_end_carries_the_exact_reply_from_its_session_file(tmp_path: Path) -> None:
    """AfterAgent's prompt_response joins the streamed pieces with spaces (measured); the
    session file holds the reply as it was."""
    chat = tmp_path / "session.jsonl"
    lines = [{"sessionId": "s1"}, {"type": "user", "content": [{"text": "slow one"}]},
             {"type": "gemini", "content": "SLOW: slow one", "id": "g1",
              "tokens": {"input": 1200, "output": 3, "cached": 1000, "thoughts": 2},
              "model": "gemini-2.5-flash"}]
    chat.write_text("".join(json.dumps(x) + "\n" for x in lines))
    events = GeminiEvents()
    [start] = events(ev("BeforeAgent", 1, prompt="slow one", transcript_path=str(chat)))
    [stop] = events(ev("AfterAgent", 2, prompt="slow one", transcript_path=str(chat),
                       prompt_response="SLOW: slow one W:  sl ow  o ne"))
    assert start.name == "UserPromptSubmit" and start.payload["prompt"] == "slow one"
    assert stop.name == "Stop" and stop.payload["last_assistant_message"] == "SLOW: slow one"
    work = GeminiAgent().turn_work(str(chat), 0, reply="SLOW: slow one")
    assert work.done
    [t] = work.tokens
    assert (t.input, t.cache_read, t.output) == (200, 1000, 5)


def test_an_api_error_gemini_does_not_retry_ends_its_turn_as_a_stop_failure(
        tmp_path: Path) -> None:
    """A 401: AfterAgent fires with `[no response text]` (measured on 0.61.0); the session
    file's `error` entry after the prompt makes it a StopFailure; a reply after an error (a
    retry that worked) is a reply."""
    chat = tmp_path / "session.jsonl"
    refused = '[API Error: {"error":{"code":401,"message":"API key not valid"}}]'
    lines = [{"sessionId": "s1"}, {"type": "user", "content": [{"text": "go"}]},
             {"type": "error", "content": refused},
             {"type": "info", "content": "This request failed. Press F12 for diagnostics"}]
    chat.write_text("".join(json.dumps(x) + "\n" for x in lines))
    events = GeminiEvents()
    after = {"prompt": "go", "transcript_path": str(chat), "prompt_response": "[no response text]"}
    [stop] = events(ev("AfterAgent", 2, **after))
    assert stop.name == "StopFailure"
    assert stop.payload["error"] == "authentication_failed"
    assert stop.payload["last_assistant_message"] == refused
    with chat.open("a") as f:
        f.write(json.dumps({"type": "gemini", "content": "it worked", "id": "g2"}) + "\n")
    [stop] = events(ev("AfterAgent", 3, **after))
    assert stop.name == "Stop" and stop.payload["last_assistant_message"] == "it worked"


def test_codexs_failures_and_tokens_come_from_its_session_file(tmp_path: Path) -> None:
    rollout = tmp_path / "rollout.jsonl"
    usage = {"input_tokens": 1200, "cached_input_tokens": 1000, "output_tokens": 34}
    lines = [
        {"type": "turn_context", "payload": {"turn_id": "A", "model": "gpt-5-codex"}},
        {"type": "event_msg", "ordinal": 5, "payload": {
            "type": "token_count", "info": {"last_token_usage": usage}}},
        {"type": "event_msg", "payload": {"type": "task_complete", "turn_id": "A",
                                          "last_agent_message": "ok", "error": None}},
        {"type": "event_msg", "ordinal": 9, "payload": {
            "type": "token_count", "info": None, "rate_limits": {
                "primary": {"resets_at": 1796250000}, "secondary": None}}},
        {"type": "event_msg", "payload": {
            "type": "task_complete", "turn_id": "B", "last_agent_message": None,
            "error": {"message": "You've hit your usage limit.",
                      "codex_error_info": "usage_limit_exceeded"}}},
        {"type": "event_msg", "payload": {
            "type": "task_complete", "turn_id": "C", "last_agent_message": None,
            "error": {"message": "We're currently experiencing high demand",
                      "codex_error_info": "internal_server_error"}}},
        {"type": "event_msg", "payload": {  # a custom provider's 401, as Codex 0.171.0 wrote it
            "type": "task_complete", "turn_id": "D", "last_agent_message": None,
            "error": {"message": "unexpected status 401 Unauthorized: API key not valid",
                      "codex_error_info": {"http_connection_failed": {
                          "http_status_code": 401}}}}},
    ]
    rollout.write_text("".join(json.dumps(x) + "\n" for x in lines))
    codex = CodexAgent()
    assert codex.turn_failure(str(rollout), "A", []) is None
    limit = codex.turn_failure(str(rollout), "B/2", [])
    assert limit is not None and limit.error == "rate_limit" and "resets " in limit.message
    server = codex.turn_failure(str(rollout), "C", [])
    assert server is not None and server.error == "server_error"
    refused = codex.turn_failure(str(rollout), "D", [])
    assert refused is not None and refused.error == "authentication_failed"
    work = codex.turn_work(str(rollout), 0)
    [t] = work.tokens
    assert (t.model, t.input, t.cache_read, t.output) == ("gpt-5-codex", 200, 1000, 34)
    seen: set[str] = set()
    codex.turn_work(str(rollout), 0, seen=seen)
    assert codex.turn_work(str(rollout), 0, seen=seen).tokens == []  # each entry counts once


def test_gemini_failure_is_read_from_its_screen_after_it_gave_up() -> None:
    screen = [" > please fail", "✕ [API Error: 401 API key not valid. Please pass a valid key.]"]
    failure = GeminiAgent().turn_failure(None, None, screen)
    assert failure is not None and failure.error == "authentication_failed"


@given(status=st.integers(400, 599),
       noise=st.lists(st.integers(0, 99999), max_size=4),
       shape=st.sampled_from(["[API Error: {s} {n}]", "[API Error: got status: {s} {n}]",
                              "[API Error: Request failed ({s}) {n}]"]))
def test_gemini_failure_is_its_status_never_another_number_in_the_text(
        status: int, noise: list[int], shape: str) -> None:
    """The status Gemini writes decides, not a request id or a count that holds '401'."""
    text = shape.format(s=status, n=" ".join(f"request {n} took {n}.5 ms" for n in noise))
    assert api_failure(text).error == kind_of_status(status)
