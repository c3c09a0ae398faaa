"""agents/holders.py: who holds a Claude conversation, read from Claude's own registry of
sessions (`~/.claude/sessions/<pid>.json`), and ending only our own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from claude_orchestrator.agents.holders import free, holders, refused_session


def register(home: Path, pid: int, sid: str) -> None:
    folder = home / ".claude" / "sessions"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{pid}.json").write_text(json.dumps({"pid": pid, "sessionId": sid,
                                                    "cwd": "/work"}))


def test_only_our_own_holder_is_ended_and_others_are_named(tmp_path: Path) -> None:
    ours = tmp_path / "state" / "settings.json"
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    mine = subprocess.Popen([*sleeper, "--settings", str(ours)])
    theirs = subprocess.Popen([*sleeper, "--settings", "/elsewhere.json"])
    try:
        register(tmp_path, mine.pid, "sid-1")
        register(tmp_path, theirs.pid, "sid-1")
        register(tmp_path, 999_999_999, "sid-1")  # a stale record: no such process
        register(tmp_path, 1, "sid-2")  # another conversation
        (tmp_path / ".claude" / "sessions" / "junk.json").write_text("{not json")
        assert sorted(h.pid for h in holders(tmp_path, "sid-1")) == sorted(
            [mine.pid, theirs.pid])
        said: list[str] = []
        others = free(tmp_path, "sid-1", str(ours), said.append)
        assert [h.pid for h in others] == [theirs.pid]
        assert mine.wait(5) is not None and theirs.poll() is None
        assert said == [f"ended this session's earlier Claude (pid {mine.pid}), still holding "
                        "the conversation sid-1"]
        assert f"pid {theirs.pid}" in others[0].describe() and "/work" in others[0].describe()
    finally:
        for p in (mine, theirs):
            p.kill()
            p.wait()


def test_the_refusal_is_read_from_claudes_own_words() -> None:
    assert refused_session("Error: Session ID 0b6c-9f is already in use.\n") == "0b6c-9f"
    assert refused_session("Error: Invalid session ID. Must be a valid UUID.") is None
