"""secrets.py: what is redacted, and the orchestrator's memory and environment out of reach of
other processes of the same user (the code Claude runs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from claude_orchestrator import cli
from claude_orchestrator.config import resolve
from claude_orchestrator.secrets import REDACTED, Redactor

KEY = "sk-or-v1-0123456789abcdefABCDEFGHIJKLMNOP"


@pytest.mark.parametrize(("text", "expected"), [
    (f"key={KEY}", f"key={REDACTED}"),
    (f"half {KEY[:20]} and {KEY[20:]} end", f"half {REDACTED} and {REDACTED} end"),
    ("short 0123456789a is not 12", "short 0123456789a is not 12"),
    (f"{KEY[5:17]}", REDACTED),  # exactly 12 characters of it
    ("Authorization: Bearer abc.def-ghi", f"Authorization: {REDACTED}"),
    ("an sk-ant-api03-whatever-token here", f"an {REDACTED} here"),
    ("plain words stay", "plain words stay"),
])
def test_redaction(text: str, expected: str) -> None:
    assert Redactor([KEY])(text) == expected


def test_every_copy_a_bare_token_and_never_an_empty_or_short_secret() -> None:
    """(What supervisor/api_errors.redact, a second redactor only tests used, checked.)"""
    assert Redactor([KEY])(f"a {KEY} b {KEY}") == f"a {REDACTED} b {REDACTED}"
    assert Redactor([])("Bearer abc") == REDACTED
    assert Redactor(["", "ab"])("plain text") == "plain text"


def test_withheld_values_are_secrets_too() -> None:
    r = Redactor([KEY]).with_more(["ghp_TOKEN-9876543210zyx", "tiny"])
    assert r("a ghp_TOKEN-9876543210zyx b tiny") == f"a {REDACTED} b tiny"


def test_prepare_takes_the_withheld_variables_out_before_any_child(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[str | None] = []
    monkeypatch.setattr(cli, "find_tmux", lambda env: seen.append(env.get("MY_TOKEN")))
    monkeypatch.setattr(cli, "find_executable", lambda argv, env: "/usr/bin/claude")
    monkeypatch.setenv("MY_TOKEN", "tok-secret-value-1234")
    environ = {"OPENROUTER_API_KEY": KEY, "MY_TOKEN": "tok-secret-value-1234"}
    config = resolve({"withhold_env": "MY_TOKEN"}, environ, workdir=str(tmp_path))
    redact = cli._prepare(config, environ, need_key=True)
    assert seen == [None]  # gone before the first child (`tmux -V`)
    assert "MY_TOKEN" not in os.environ  # the pane would inherit it
    assert redact(f"{KEY} tok-secret-value-1234") == f"{REDACTED} {REDACTED}"


def _environ_readable(undumpable: bool) -> bool:
    """Another process of the same (non-root) user reads a process's /proc/<pid>/environ."""
    setpriv = shutil.which("setpriv")
    assert setpriv is not None
    nobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    code = ("from claude_orchestrator.secrets import make_undumpable; import time, sys; "
            f"{'make_undumpable(); ' if undumpable else ''}print('ready', flush=True); "
            "time.sleep(20)")
    env = dict(os.environ, THE_KEY=KEY, PYTHONPATH=os.pathsep.join(sys.path))
    target = subprocess.Popen([*nobody, sys.executable, "-c", code], env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert target.stdout is not None and target.stdout.readline().strip() == "ready"
        probe = subprocess.run([*nobody, "cat", f"/proc/{target.pid}/environ"],
                               capture_output=True, timeout=10)
        return KEY.encode() in probe.stdout
    finally:
        target.kill()
        target.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.getuid() != 0,
                    reason="needs Linux /proc and root to run both sides as another uid (CI "
                           "runs as root on Linux, so this runs there)")
def test_same_user_code_cannot_read_the_orchestrators_environment() -> None:
    assert _environ_readable(undumpable=False)  # the threat is real ...
    assert not _environ_readable(undumpable=True)  # ... and the defence holds


def test_the_kept_hook_record_is_masked_in_place(tmp_path: Path) -> None:
    """Issue 17, Low: the events file kept for `resume` held the key when Claude printed it.
    It is overwritten byte for byte, so the positions a resume reads by stay right."""
    from claude_orchestrator.runtime.hooks import HookChannel
    from claude_orchestrator.runtime.state import private_dir

    channel = HookChannel(private_dir(tmp_path / "state"))
    events = [{"hook_event_name": "UserPromptSubmit", "prompt": "print the key"},
              {"hook_event_name": "Stop", "last_assistant_message": f"it is {KEY}, café"}]
    channel.events_path.write_bytes(b"".join(
        json.dumps(e, ensure_ascii=False).encode() + b"\n" for e in events))
    before = [(e.pos, e.name) for e in channel.read_all()]
    channel.mask_record(Redactor([KEY]).mask)
    data = channel.events_path.read_bytes()
    assert KEY.encode() not in data and KEY[5:17].encode() not in data
    assert [(e.pos, e.name) for e in channel.read_all()] == before
    assert "café" in channel.read_all()[1].payload["last_assistant_message"]
    channel.close()
