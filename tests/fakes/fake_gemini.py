"""A fake Gemini API (generativelanguage `v1beta`) for Gemini CLI (standard library only).

Gemini CLI talks to it with `GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:PORT` and
`GEMINI_API_KEY`: `POST /v1beta/models/<model>:streamGenerateContent?alt=sse`, answered as
server-sent events, one `data: {candidates: [{content: {role: "model", parts: [{text}]}}]}` per
piece, the last with `finishReason: "STOP"` and `usageMetadata`. `countTokens` gets a count;
`generateContent` (the CLI's own side calls: routing, next-speaker checks, titles) gets a JSON
answer and is recorded in `side_requests`, never as a turn. An error is `{"error": {"code",
"message", "status"}}` with the HTTP status.

The user texts of a request are its `contents` of role `user` (text parts), without the
`<session_context>` part the CLI sends before the first message.

Manual use: ``python -m tests.fakes.fake_gemini --port 8767``.
"""

from __future__ import annotations

import argparse
import json
import threading
from typing import Any

from tests.fakes.fake_sse import FakeModelApi, Handler, Reply, RequestRecord

__all__ = ["FakeGemini", "Reply", "RequestRecord", "user_texts"]

MODEL = "gemini-2.5-flash"
_CONTEXT_STARTS = ("<session_context>", "This is the Gemini CLI", "<state_snapshot>")
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
           404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


def user_texts(body: dict[str, Any]) -> list[str]:
    """The user's own texts of a request, oldest first (the CLI's context parts skipped; a
    function response is not a user text)."""
    out: list[str] = []
    contents = body.get("contents")
    for item in contents if isinstance(contents, list) else []:
        if not isinstance(item, dict) or item.get("role") != "user":
            continue
        parts = item.get("parts")
        for part in parts if isinstance(parts, list) else []:
            text = part.get("text") if isinstance(part, dict) else None
            if isinstance(text, str) and not text.lstrip().startswith(_CONTEXT_STARTS):
                out.append(text)
    return out


class FakeGemini(FakeModelApi):
    """The Gemini API on 127.0.0.1; `base_url` goes into `GOOGLE_GEMINI_BASE_URL`."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handle_post(self, h: Handler, body: dict[str, Any], raw: bytes) -> None:
        route = h.path.split("?", 1)[0]
        model = route.rsplit("/", 1)[-1].split(":", 1)[0] or MODEL
        if route.endswith(":countTokens"):
            self.note_other("POST", h.path, raw)
            h.send_json(200, {"totalTokens": max(1, len(raw) // 4)})
            return
        if route.endswith(":generateContent"):
            self.note_side(body)
            h.send_json(200, self._whole(_side_answer(body), model))
            return
        if not route.endswith(":streamGenerateContent"):
            self.note_other("POST", h.path, raw)
            h.send_json(200, {})
            return
        rec, reply = self.begin(h.path, body, user_texts(body))
        self.answer(h, rec, reply, lambda r: self._stream(h, r, model), _error)

    @staticmethod
    def _whole(text: str, model: str) -> dict[str, Any]:
        return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                                "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 5,
                                  "totalTokenCount": 10},
                "modelVersion": model}

    def _stream(self, h: Handler, reply: Reply, model: str) -> None:
        h.start_stream()
        pieces = self.paced(reply)
        inp, out, cached = reply.usage[0], reply.output_tokens, reply.usage[2]
        for i, (gap, piece) in enumerate(pieces):
            self.wait_gap(gap)
            last = i == len(pieces) - 1
            cand: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": piece}]},
                                    "index": 0}
            data: dict[str, Any] = {"candidates": [cand], "modelVersion": model}
            if last:
                cand["finishReason"] = "STOP"
                data["usageMetadata"] = {"promptTokenCount": inp, "candidatesTokenCount": out,
                                         "cachedContentTokenCount": cached,
                                         "totalTokenCount": inp + out}
            h.chunk(f"data: {json.dumps(data)}\r\n\r\n".encode())
        h.end_stream()


def _side_answer(body: dict[str, Any]) -> str:
    """A JSON answer the CLI's side calls accept (a routing choice, a next-speaker check)."""
    blob = json.dumps(body)
    if "next_speaker" in blob:
        return json.dumps({"reasoning": "the model answered", "next_speaker": "user"})
    if "model_choice" in blob:
        return json.dumps({"reasoning": "simple", "model_choice": "flash"})
    return "Fake title"


def _error(reply: Reply) -> dict[str, Any]:
    return {"error": {"code": reply.status, "message": reply.error_message,
                      "status": _STATUS.get(reply.status, "UNKNOWN"),
                      **({"details": list(reply.details)} if reply.details else {})}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the fake Gemini API.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--duration", type=float, default=0.0)
    args = parser.parse_args(argv)
    fake = FakeGemini(lambda t: Reply(text=f"ECHO: {t}", duration=args.duration),
                      port=args.port, verbose=True)
    fake.start()
    print(f"fake Gemini API on {fake.base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
