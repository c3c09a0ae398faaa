"""A fake OpenAI Responses API for Codex CLI (standard library only).

Codex talks to it through a custom provider in its `config.toml` (`base_url =
"http://127.0.0.1:PORT/v1"`, `wire_api = "responses"`): `POST /v1/responses` with `"stream":
true`, answered as server-sent events (`response.created`, `response.output_item.added`,
`response.output_text.delta`..., `response.output_item.done`, `response.completed` with its
`usage`). An error is a JSON body `{"error": {"message", "type", "code"}}` with the status.

Codex sends, besides each turn, a request for a thread title ("Generate a concise, single-line
task title"): answered, recorded in `side_requests`, never counted as a turn. The user texts of a
request are its `input` messages of role `user` (`input_text` parts), without the context blocks
Codex adds itself (`<environment_context>`, `<user_instructions>`, `# AGENTS.md`, ...).

Manual use: ``python -m tests.fakes.fake_responses --port 8766``.
"""

from __future__ import annotations

import argparse
import json
import threading
import uuid
from typing import Any

from tests.fakes.fake_sse import FakeModelApi, Handler, Reply, RequestRecord

__all__ = ["FakeResponses", "Reply", "RequestRecord", "user_texts"]

MODEL = "gpt-fake-codex"
TITLE_START = "Generate a concise, single-line task title"
_CONTEXT_STARTS = ("<environment_context>", "<user_instructions>", "<permissions",
                   "# AGENTS.md", "<INSTRUCTIONS>", "<turn_aborted>", "<user_shell_command>",
                   "<collaboration_mode>", "<skills_instructions>", "<apps_instructions>",
                   "<personality_spec>")


def _parts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return []
    return [str(p.get("text", "")) for p in content
            if isinstance(p, dict) and p.get("type") in ("input_text", "text")]


def user_texts(body: dict[str, Any]) -> list[str]:
    """The user's own texts of a Responses request, oldest first (context blocks skipped)."""
    out: list[str] = []
    items = body.get("input")
    if isinstance(items, str):
        return [items]
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or item.get("role") != "user":
            continue
        if item.get("type") not in (None, "message"):
            continue
        for text in _parts(item.get("content")):
            if not text.lstrip().startswith(_CONTEXT_STARTS):
                out.append(text)
    return out


def is_title_request(body: dict[str, Any]) -> bool:
    """Codex's request for a thread title: its last user text asks for one."""
    texts = user_texts(body)
    return bool(texts) and texts[-1].startswith(TITLE_START)


class FakeResponses(FakeModelApi):
    """The Responses API on 127.0.0.1; `base_url` goes into the provider's `base_url`."""

    def __init__(self, *args: Any, title: str = "Fake task", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = title

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def handle_post(self, h: Handler, body: dict[str, Any], raw: bytes) -> None:
        route = h.path.split("?", 1)[0].rstrip("/")
        if not route.endswith("/responses"):
            self.note_other("POST", h.path, raw)
            h.send_json(200, {})
            return
        model = str(body.get("model") or MODEL)
        if is_title_request(body):
            self.note_side(body)
            self.answer(h, None, Reply(text=self.title), lambda r: self._stream(h, r, model),
                        _error)
            return
        rec, reply = self.begin(h.path, body, user_texts(body))
        self.answer(h, rec, reply, lambda r: self._stream(h, r, model), _error)

    def _stream(self, h: Handler, reply: Reply, model: str) -> None:
        rid, mid = "resp_" + uuid.uuid4().hex[:20], "msg_" + uuid.uuid4().hex[:20]
        seq = iter(range(1_000_000))

        def event(name: str, obj: dict[str, Any]) -> None:
            data = {"type": name, "sequence_number": next(seq), **obj}
            h.chunk(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())

        base = {"id": rid, "object": "response", "model": model, "created_at": 0}
        h.start_stream()
        event("response.created", {"response": {**base, "status": "in_progress", "output": []}})
        item = {"id": mid, "type": "message", "role": "assistant", "status": "in_progress",
                "content": []}
        event("response.output_item.added", {"output_index": 0, "item": item})
        event("response.content_part.added", {"item_id": mid, "output_index": 0,
                                              "content_index": 0, "part": {
                                                  "type": "output_text", "text": "",
                                                  "annotations": []}})
        for gap, piece in self.paced(reply):
            self.wait_gap(gap)
            event("response.output_text.delta", {"item_id": mid, "output_index": 0,
                                                 "content_index": 0, "delta": piece})
        part = {"type": "output_text", "text": reply.text, "annotations": []}
        event("response.output_text.done", {"item_id": mid, "output_index": 0,
                                            "content_index": 0, "text": reply.text})
        event("response.content_part.done", {"item_id": mid, "output_index": 0,
                                             "content_index": 0, "part": part})
        done = {**item, "status": "completed", "content": [part]}
        event("response.output_item.done", {"output_index": 0, "item": done})
        inp, out, cached = reply.usage[0], reply.output_tokens, reply.usage[2]
        usage = {"input_tokens": inp, "input_tokens_details": {"cached_tokens": cached},
                 "output_tokens": out, "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": inp + out}
        event("response.completed", {"response": {**base, "status": "completed",
                                                   "output": [done], "usage": usage}})
        h.end_stream()


def _error(reply: Reply) -> dict[str, Any]:
    kind = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(reply.status, "server_error")
    return {"error": {"message": reply.error_message, "type": kind, "code": kind,
                      "param": None}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the fake Responses API.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--duration", type=float, default=0.0)
    args = parser.parse_args(argv)
    fake = FakeResponses(lambda t: Reply(text=f"ECHO: {t}", duration=args.duration),
                         port=args.port, verbose=True)
    fake.start()
    print(f"fake Responses API on {fake.base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
