"""hooks.py: parsing the events file, merging settings, the hook's shell line, the channel."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator.agents.claude import HOOK_EVENTS
from claude_orchestrator.runtime.hooks import (
    HookChannel,
    hook_command,
    merge_settings,
    parse_events,
    split_user_settings,
)
from claude_orchestrator.runtime.state import remove_dir


def _payload(name: str, **extra: Any) -> str:
    return json.dumps({"session_id": "s-1", "hook_event_name": name, **extra})


# ----------------------------------------------------------------------------- parse_events
def test_parse_several_payloads() -> None:
    text = "".join(_payload(n, i=i) + "\n" for i, n in
                   enumerate(["SessionStart", "UserPromptSubmit", "Stop"]))
    events, used = parse_events(text, 5)
    assert [e.name for e in events] == ["SessionStart", "UserPromptSubmit", "Stop"]
    assert [e.payload["i"] for e in events] == [0, 1, 2]
    # each event's position is where its JSON ends in the file (text starts at byte 5)
    assert [e.pos for e in events] == [5 + text.index("}\n", text.index(f'"i": {i}')) + 1
                                       for i in range(3)]
    assert events[0].session_id == "s-1"
    assert used == 5 + len(text)


def test_parse_back_to_back_without_newline() -> None:
    text = _payload("Stop") + _payload("StopFailure") + "  \n\n"
    events, used = parse_events(text)
    assert [e.name for e in events] == ["Stop", "StopFailure"]
    assert used == len(text)


def test_parse_half_written_payload_not_consumed() -> None:
    full = _payload("UserPromptSubmit", prompt="hi") + "\n"
    half = _payload("Stop", last_assistant_message="a long reply")[:25]
    events, used = parse_events(full + half)
    assert [e.name for e in events] == ["UserPromptSubmit"]
    assert used == len(full)
    # once the rest arrives, the payload is read from where we stopped
    rest = _payload("Stop", last_assistant_message="a long reply")[25:] + "\n"
    events2, used2 = parse_events((full + half + rest)[used:], used)
    assert [e.name for e in events2] == ["Stop"]
    assert events2[0].payload["last_assistant_message"] == "a long reply"
    assert used2 == len(full + half + rest) == events2[0].pos + 1


def test_parse_garbled_line_skipped() -> None:
    text = "this is not json\n" + _payload("Stop") + "\n{broken: json}\n" + _payload(
        "SessionEnd") + "\n"
    events, used = parse_events(text)
    assert [e.name for e in events] == ["Stop", "SessionEnd"]
    assert used == len(text)


def test_parse_empty_and_whitespace() -> None:
    assert parse_events("") == ([], 0)
    assert parse_events(" \n\n\t") == ([], 4)


def test_parse_non_objects_and_missing_names() -> None:
    text = "[1, 2]\n42\n" + json.dumps({"session_id": 7}) + "\n"
    events, used = parse_events(text)
    assert len(events) == 1
    assert events[0].name == ""
    assert events[0].session_id is None  # not a string
    assert used == len(text)


def test_parse_pretty_printed_payload() -> None:
    text = json.dumps({"hook_event_name": "Stop", "x": [1, 2]}, indent=2) + "\n"
    events, _ = parse_events(text)
    assert [e.name for e in events] == ["Stop"]


def test_parse_unicode_payload() -> None:
    text = json.dumps({"hook_event_name": "Stop", "last_assistant_message": "héllo ✓ 日本"},
                      ensure_ascii=False) + "\n"
    events, used = parse_events(text)
    assert events[0].payload["last_assistant_message"] == "héllo ✓ 日本"
    assert used == len(text.encode()) == events[0].pos + 1  # positions count bytes


# ----------------------------------------------------------------------------- settings
def test_merge_settings_keeps_users_hooks_and_adds_ours() -> None:
    user_stop = {"matcher": "", "hooks": [{"type": "command", "command": "notify-send done"}]}
    user_pre = {"matcher": "Bash", "hooks": [{"type": "command", "command": "audit"}]}
    user: dict[str, Any] = {"model": "opus", "env": {"A": "1"},
                            "hooks": {"Stop": [user_stop], "PreToolUse": [user_pre]}}
    merged = merge_settings(user, "OUR-CMD", HOOK_EVENTS)
    assert merged["model"] == "opus"
    assert merged["env"] == {"A": "1"}
    assert merged["hooks"]["PreToolUse"] == [user_pre]
    assert merged["hooks"]["Stop"][0] == user_stop
    ours = {"hooks": [{"type": "command", "command": "OUR-CMD"}]}
    for name in HOOK_EVENTS:
        assert merged["hooks"][name][-1] == ours
    assert len(merged["hooks"]["Stop"]) == 2
    # the user's dict is left alone
    assert user["hooks"]["Stop"] == [user_stop]
    assert set(user["hooks"]) == {"Stop", "PreToolUse"}


def test_merge_settings_without_user_settings() -> None:
    merged = merge_settings({}, "c", HOOK_EVENTS)
    assert set(merged) == {"hooks"}
    assert set(merged["hooks"]) == set(HOOK_EVENTS)


def test_hook_events_cover_turn_ends() -> None:
    assert {"Stop", "StopFailure", "UserPromptSubmit", "SessionStart"} <= set(HOOK_EVENTS)


def test_split_user_settings_file(tmp_path: Path) -> None:
    f = tmp_path / "mine.json"
    f.write_text(json.dumps({"model": "sonnet", "hooks": {"Stop": []}}))
    rest, settings = split_user_settings(["claude", "--settings", str(f), "--verbose"])
    assert rest == ["claude", "--verbose"]
    assert settings == {"model": "sonnet", "hooks": {"Stop": []}}


def test_split_user_settings_inline_json() -> None:
    rest, settings = split_user_settings(["claude", '--settings={"model": "haiku"}', "-x"])
    assert rest == ["claude", "-x"]
    assert settings == {"model": "haiku"}
    rest, settings = split_user_settings(["claude", "--settings", '{"a": 1}'])
    assert rest == ["claude"]
    assert settings == {"a": 1}


def test_split_user_settings_none() -> None:
    argv = ["claude", "--dangerously-skip-permissions", "--setting-sources", "user"]
    rest, settings = split_user_settings(argv)
    assert rest == argv
    assert settings == {}


def test_split_user_settings_file_equals_form(tmp_path: Path) -> None:
    f = tmp_path / "s.json"
    f.write_text('{"x": true}')
    assert split_user_settings(["c", f"--settings={f}"]) == (["c"], {"x": True})


# ----------------------------------------------------------------------------- hook command
def _run_hook(command: str, payload: str, timeout: float = 5.0) -> subprocess.CompletedProcess[
        bytes]:
    return subprocess.run(["sh", "-c", command], input=payload.encode(), capture_output=True,
                          timeout=timeout, check=False)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "chan with space's"
    d.mkdir()
    return d


def test_hook_command_appends_payload_and_newline(folder: Path) -> None:
    events, wake = folder / "events.jsonl", folder / "wake"
    cmd = hook_command(events, wake)
    p1, p2 = _payload("UserPromptSubmit", prompt="a 'quoted' $HOME `x`"), _payload("Stop")
    r = _run_hook(cmd, p1)
    assert r.returncode == 0
    assert r.stdout == b""
    _run_hook(cmd, p2)
    assert events.read_text() == p1 + "\n" + p2 + "\n"


def test_hook_command_pokes_the_fifo(folder: Path) -> None:
    events, wake = folder / "events.jsonl", folder / "wake"
    os.mkfifo(wake, 0o600)
    fd = os.open(wake, os.O_RDWR | os.O_NONBLOCK)
    try:
        r = _run_hook(hook_command(events, wake), _payload("Stop"))
        assert r.returncode == 0
        assert r.stdout == b""
        assert os.read(fd, 1)
    finally:
        os.close(fd)


def test_hook_command_fifo_without_reader_does_not_block(folder: Path) -> None:
    events, wake = folder / "events.jsonl", folder / "wake"
    os.mkfifo(wake, 0o600)
    start = time.monotonic()
    r = _run_hook(hook_command(events, wake), _payload("Stop"))
    assert r.returncode == 0
    assert time.monotonic() - start < 3
    assert events.read_text().endswith("\n")


def test_hook_command_fifo_missing(folder: Path) -> None:
    events, wake = folder / "events.jsonl", folder / "wake"
    r = _run_hook(hook_command(events, wake), _payload("Stop"))
    assert r.returncode == 0
    assert r.stdout == b""
    assert not wake.exists()  # never creates a regular file in the FIFO's place
    assert events.read_text() == _payload("Stop") + "\n"


def test_hook_command_wake_is_a_regular_file(folder: Path) -> None:
    events, wake = folder / "events.jsonl", folder / "wake"
    wake.write_text("")
    r = _run_hook(hook_command(events, wake), _payload("Stop"))
    assert r.returncode == 0
    assert wake.read_text() == ""


def test_hook_command_folder_gone(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    r = _run_hook(hook_command(gone / "events.jsonl", gone / "wake"), _payload("Stop"))
    assert r.returncode == 0
    assert r.stdout == b""
    assert not gone.exists()


def test_hook_command_empty_stdin(folder: Path) -> None:
    r = _run_hook(hook_command(folder / "events.jsonl", folder / "wake"), "")
    assert r.returncode == 0
    assert r.stdout == b""


# ----------------------------------------------------------------------------- channel
def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


def test_channel_creates_fifo_and_events(folder: Path) -> None:
    ch = HookChannel(folder)
    try:
        assert stat.S_ISFIFO(ch.wake_path.lstat().st_mode)
        assert ch.events_path.exists()
        assert ch.read_new() == []
    finally:
        ch.close()


def test_channel_replaces_a_regular_file_at_the_fifo_path(folder: Path) -> None:
    (folder / "wake").write_text("junk")
    ch = HookChannel(folder)
    try:
        assert stat.S_ISFIFO(ch.wake_path.lstat().st_mode)
    finally:
        ch.close()


def test_channel_read_new_returns_only_new_events(folder: Path) -> None:
    ch = HookChannel(folder)
    try:
        _append(ch.events_path, (_payload("SessionStart") + "\n").encode())
        assert [e.name for e in ch.read_new()] == ["SessionStart"]
        assert ch.read_new() == []
        _append(ch.events_path, (_payload("UserPromptSubmit") + "\n" + _payload("Stop")
                                 + "\n").encode())
        evs = ch.read_new()
        assert [e.name for e in evs] == ["UserPromptSubmit", "Stop"]
        assert ch.read_new() == []
        assert ch.mark() == ch.events_path.stat().st_size
    finally:
        ch.close()


def test_channel_survives_partial_writes(folder: Path) -> None:
    ch = HookChannel(folder)
    try:
        data = (json.dumps({"hook_event_name": "Stop", "last_assistant_message": "héllo ✓ done"},
                           ensure_ascii=False) + "\n").encode()
        cut = data.index("✓".encode()) + 1  # in the middle of a multi-byte character
        _append(ch.events_path, data[:10])
        assert ch.read_new() == []
        _append(ch.events_path, data[10:cut])
        assert ch.read_new() == []
        _append(ch.events_path, data[cut:])
        evs = ch.read_new()
        assert [e.name for e in evs] == ["Stop"]
        assert evs[0].payload["last_assistant_message"] == "héllo ✓ done"
        assert ch.read_new() == []
        assert ch.mark() == len(data)
    finally:
        ch.close()


def test_channel_invalid_bytes_do_not_shift_the_offset(folder: Path) -> None:
    ch = HookChannel(folder)
    try:
        _append(ch.events_path, b"\xff\xfe garbage\n" + (_payload("Stop") + "\n").encode())
        assert [e.name for e in ch.read_new()] == ["Stop"]
        _append(ch.events_path, (_payload("SessionEnd") + "\n").encode())
        assert [e.name for e in ch.read_new()] == ["SessionEnd"]
    finally:
        ch.close()


def test_channel_old_events_only_in_read_all(folder: Path) -> None:
    (folder / "events.jsonl").write_text(_payload("Stop", old=True) + "\n")
    ch = HookChannel(folder)
    try:
        assert ch.read_new() == []
        assert [e.payload.get("old") for e in ch.read_all()] == [True]
    finally:
        ch.close()


def test_channel_with_real_hook_command(folder: Path) -> None:
    ch = HookChannel(folder)
    try:
        settings = ch.write_settings({"model": "x"}, HOOK_EVENTS)
        assert stat.S_IMODE(settings.stat().st_mode) == 0o600
        data = json.loads(settings.read_text())
        assert data["model"] == "x"
        cmd = data["hooks"]["Stop"][-1]["hooks"][0]["command"]
        assert cmd == hook_command(ch.events_path, ch.wake_path)
        r = _run_hook(cmd, _payload("Stop", last_assistant_message="done"))
        assert r.returncode == 0 and r.stdout == b""
        assert os.read(ch.wake_fd, 16)  # the FIFO was poked
        evs = ch.read_new()
        assert [e.payload["last_assistant_message"] for e in evs] == ["done"]
    finally:
        ch.close()
    remove_dir(folder)
    assert not folder.exists()


def test_channel_drain_wake(folder: Path) -> None:
    ch = HookChannel(folder)
    try:
        os.write(ch.wake_fd, b"...")
        ch.drain_wake()
        with pytest.raises(BlockingIOError):
            os.read(ch.wake_fd, 1)
    finally:
        ch.close()


def test_other_stop_hooks_found_where_claude_reads_settings(tmp_path: Path) -> None:
    from claude_orchestrator.runtime.hooks import other_stop_hooks, settings_in_force

    def stops(argv: list[str], given: dict[str, Any], home: Path, work: Path) -> bool:
        return other_stop_hooks(settings_in_force(argv, given, home, work))

    home, work = tmp_path / "home", tmp_path / "work"
    (home / ".claude").mkdir(parents=True)
    (work / ".claude").mkdir(parents=True)
    stop = {"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "x"}]}]}}
    argv = ["claude", "--setting-sources", "user"]
    assert not stops(argv, {}, home, work)
    assert stops(argv, stop, home, work)  # the user's own --settings
    (work / ".claude" / "settings.json").write_text(json.dumps(stop))
    assert not stops(argv, {}, home, work)  # project settings not read
    assert stops(["claude"], {}, home, work)  # all sources by default
    (home / ".claude" / "settings.json").write_text(json.dumps(stop))
    assert stops(argv, {}, home, work)
    (home / ".claude" / "settings.json").write_text("{not json")
    assert not stops(argv, {"hooks": {"Stop": []}}, home, work)
