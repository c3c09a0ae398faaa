"""What an HTTP API's error answers mean: pure functions over status codes, headers and bodies,
so they are tested without a server. (Secrets are kept out of the messages built from them by
the one redactor, `secrets.Redactor`.)
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Mapping
from datetime import UTC
from http import HTTPStatus

MESSAGE_LIMIT = 200


def one_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Collapse whitespace to one line and cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def status_label(status: int) -> str:
    phrase = status_phrase(status)
    return f"HTTP {status} {phrase}" if phrase else f"HTTP {status}"


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date).

    Examples:
        >>> parse_retry_after({"retry-after": "3"})
        3.0
        >>> parse_retry_after({"retry-after-ms": "250", "retry-after": "9"})
        0.25
        >>> parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0)
        10.0
        >>> parse_retry_after({"retry-after": "soon"}) is None
        True
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = lowered.get(name)
        if value is None:
            continue
        try:
            seconds = float(value.strip()) / divisor
        except ValueError:
            continue
        if math.isfinite(seconds):
            return max(seconds, 0.0)
    value = lowered.get("retry-after")
    if value:
        try:
            when = email.utils.parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        current = time.time() if now is None else now
        return max(when.timestamp() - current, 0.0)
    return None


def server_message(body: object) -> str:
    """The human message inside an error body (OpenAI / OpenRouter shapes), else the text."""
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping):
            message = error.get("message")
            if isinstance(message, str) and message.strip():
                metadata = error.get("metadata")
                raw = metadata.get("raw") if isinstance(metadata, Mapping) else None
                if isinstance(raw, str) and raw.strip() and raw.strip() not in message:
                    return f"{message} ({raw})"
                return message
        elif isinstance(error, str) and error.strip():
            return error
        return json.dumps(body, default=str)
    if isinstance(body, str):
        return body
    return "" if body is None else str(body)


def error_code(body: object) -> str:
    """The ``code`` / ``type`` of an error body (e.g. ``context_length_exceeded``), else ''."""
    if not isinstance(body, Mapping):
        return ""
    error = body.get("error", body)
    if not isinstance(error, Mapping):
        return ""
    return " ".join(str(error[k]) for k in ("code", "type") if error.get(k) is not None)


CONTEXT_HINTS = (
    "context length",
    "context_length",
    "context window",
    "maximum context",
    "too long",
    "too many tokens",
    "context_length_exceeded",
    "reduce the length",
)
MODEL_HINTS = (
    "not a valid model",
    "invalid model",
    "unknown model",
    "model not found",
    "model_not_found",
    "no endpoints found",
    "no such model",
)
MODEL_VAGUE_HINTS = ("does not exist", "not found", "invalid", "unknown", "not supported")


def mentions_bad_model(lowered: str) -> bool:
    """Does an error message say the model is unknown?

    Examples:
        >>> mentions_bad_model("foo/bar is not a valid model id")
        True
        >>> mentions_bad_model("the model `x` does not exist")
        True
        >>> mentions_bad_model("messages: field required")
        False
    """
    if any(hint in lowered for hint in MODEL_HINTS):
        return True
    return "model" in lowered and any(hint in lowered for hint in MODEL_VAGUE_HINTS)
