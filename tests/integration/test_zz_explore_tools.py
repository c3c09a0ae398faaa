from __future__ import annotations

import json

import pytest

from claude_orchestrator.turn import run_turn
from tests.fakes.fake_anthropic import Reply
from tests.integration.realcli import Real, notes

pytestmark = pytest.mark.realcli


def test_explore(real: Real) -> None:
    real.api.push(
        Reply("Let me write it.", tool_use={"name": "Bash", "input": {
            "command": "echo hi > out.txt", "description": "write a file"}}),
        Reply("Done: wrote out.txt"),
    )
    sess = real.session()
    sess.ensure_ready()
    result = run_turn(sess, "please write the file")
    out = {
        "result": repr(result),
        "notes": notes(sess),
        "events": [ (e.name, e.payload) for e in sess.channel.read_all(0.0)],
        "reqs": [{"texts": r.texts, "tool_results": r.tool_results,
                  "blocks": r.tool_result_blocks, "tool_use_id": r.tool_use_id,
                  "last_msgs": r.body["messages"][-2:]} for r in real.api.requests],
        "file": (real.work / "out.txt").read_text() if (real.work / "out.txt").exists() else None,
        "screen": sess.runtime.capture(history=200),
    }
    (__import__("pathlib").Path("/tmp/explore/a.json")).write_text(json.dumps(out, indent=1, default=str))
