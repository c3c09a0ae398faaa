"""The fake Anthropic API answers like the real one (fast; no Claude Code needed)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.fakes.fake_anthropic import FakeAnthropic, Reply, user_texts


def _post(base: str, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
    req = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "x-api-key": "sk-ant-test"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in raw.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            out.append((lines["event"], json.loads(lines["data"])))
    return out


def _conv(*texts: str, stream: bool = True) -> dict[str, Any]:
    msgs: list[dict[str, Any]] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "<system-reminder>\nctx\n</system-reminder>"},
                {"type": "text", "text": texts[0]},
            ],
        }
    ]
    for i, t in enumerate(texts[1:]):
        msgs.append({"role": "assistant", "content": [{"type": "text", "text": f"a{i}"}]})
        msgs.append({"role": "user", "content": t})
    return {"model": "claude-x", "max_tokens": 100, "stream": stream, "messages": msgs}


def test_streamed_reply_and_record() -> None:
    with FakeAnthropic() as api:
        status, raw = _post(api.base_url, "/v1/messages?beta=true", _conv("first", "hello\tthere"))
        assert status == 200
        events = _events(raw)
        names = [n for n, _ in events]
        assert names[:2] == ["message_start", "content_block_start"]
        assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
        text = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")
        assert text == "ECHO: hello\tthere"
        assert events[-2][1]["delta"]["stop_reason"] == "end_turn"
        (rec,) = api.wait_for_requests(1, timeout=5)
        assert rec.texts == ["first", "hello\tthere"]
        assert rec.last_user_text == "hello\tthere"
        assert rec.finished_at is not None and rec.finished_at >= rec.received_at
        assert rec.finished_wall is not None


def test_non_streaming_title_and_other_paths() -> None:
    with FakeAnthropic(title="My title") as api:
        status, raw = _post(
            api.base_url, "/v1/messages", _conv("<session>x</session>", stream=False)
        )
        assert status == 200
        assert json.loads(json.loads(raw)["content"][0]["text"]) == {"title": "My title"}
        assert api.requests == [] and len(api.title_requests) == 1
        status, raw = _post(api.base_url, "/v1/messages", _conv("hi", stream=False))
        assert json.loads(raw)["content"][0]["text"] == "ECHO: hi"
        assert _post(api.base_url, "/api/anything", {})[1] == b"{}"
        with urllib.request.urlopen(api.base_url + "/v1/models", timeout=5) as resp:
            assert json.loads(resp.read()) == {}
        assert len(api.requests) == 1


def test_errors_then_recovery_and_scripted_timing() -> None:
    with FakeAnthropic(lambda t: Reply(t.upper(), duration=0.3, chunks=3)) as api:
        api.fail_next(2, status=529)
        api.fail_next(1, status=400, message="prompt is too long")
        for want in (529, 529):
            status, raw = _post(api.base_url, "/v1/messages", _conv("x"))
            assert status == want
            assert json.loads(raw)["error"]["type"] == "overloaded_error"
        status, raw = _post(api.base_url, "/v1/messages", _conv("x"))
        body = json.loads(raw)
        assert status == 400 and body["type"] == "error"
        assert body["error"] == {"type": "invalid_request_error", "message": "prompt is too long"}
        t0 = time.monotonic()
        status, raw = _post(api.base_url, "/v1/messages", _conv("slow"))
        assert time.monotonic() - t0 >= 0.25
        deltas = [d for n, d in _events(raw) if n == "content_block_delta"]
        assert len(deltas) == 3 and "".join(d["delta"]["text"] for d in deltas) == "SLOW"
        recs = api.wait_for_requests(4, timeout=5)
        assert [r.status for r in recs] == [529, 529, 400, 200]


def test_wait_for_requests_times_out() -> None:
    with FakeAnthropic() as api, pytest.raises(TimeoutError):
        api.wait_for_requests(1, timeout=0.1)


def test_user_texts_skips_system_and_reminders() -> None:
    msgs = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "<system-reminder>r</system-reminder>"},
        {"role": "user", "content": [{"type": "tool_result", "content": "x"}]},
        {"role": "user", "content": [{"type": "text", "text": "real"}]},
    ]
    assert user_texts(msgs) == ["real"]
