from __future__ import annotations

import json
import time

import pytest

from claude_orchestrator.agents.claude import ClaudeAgent
from claude_orchestrator.turn import run_turn
from tests.fakes.fake_anthropic import Reply
from tests.integration.realcli import Real, in_thread, notes

pytestmark = pytest.mark.realcli


def test_explore_perm(real: Real) -> None:
    real.api.push(
        Reply("Let me write it.", tool_use={"name": "Bash", "input": {
            "command": "echo hi > out.txt", "description": "write a file"}}),
        Reply("Done: wrote out.txt"),
    )
    sess = real.session(claude_cmd="claude --setting-sources user")
    sess.ensure_ready()
    t, box = in_thread(lambda: run_turn(sess, "please write the file"))
    log = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < 15:
        time.sleep(0.5)
        lines = sess.runtime.capture()
        log.append({"t": round(time.monotonic() - t0, 2), "state": str(ClaudeAgent().screen_state(lines)),
                    "notes": list(notes(sess)), "alive": t.is_alive(),
                    "screen": lines})
    ev_before = [(e.name, e.payload) for e in sess.channel.read_all(0.0)]
    real.tmux("send-keys", "-t", "=gt-claude-loop:", "Enter")
    t.join(30)
    out = {"log": log, "ev_before": ev_before, "box": repr(box), "notes": notes(sess),
           "events": [(e.name, e.payload) for e in sess.channel.read_all(0.0)],
           "file": (real.work / "out.txt").read_text() if (real.work / "out.txt").exists() else None,
           "screen": sess.runtime.capture(history=200)}
    (__import__("pathlib").Path("/tmp/explore/c.json")).write_text(json.dumps(out, indent=1, default=str))
