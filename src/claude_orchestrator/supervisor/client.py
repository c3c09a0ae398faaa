"""The supervisor LLM's client: OpenAI-compatible chat completions (OpenRouter by default).

Built on ``httpx2`` (the HTTP client the ``openai`` SDK itself runs on: pooled connections,
TLS through the system's trust store, proxies from the environment), imported lazily so that
``--help`` stays fast. The SDK is not used: all this client needs of it is one POST, and
importing it costs 36 MB of resident memory per orchestrator (``import openai`` alone is 49 MB,
against 40 MB for the whole orchestrator in issue 12's goal with eight at once). Retries happen
here so the caller can show each one (``on_retry``), with exponential backoff and full jitter,
honouring ``Retry-After`` / ``retry-after-ms``.

Errors come in two kinds: :class:`SupervisorRefused` (permanent: bad key, no credits, unknown
model, context too long, forbidden; exit status 4) and :class:`SupervisorError` (the rest:
retries exhausted, unreachable endpoint, malformed answers; exit status 1). Every message is one
line and never contains the API key.

Examples:
    >>> Usage(10, 5, 0.25) + Usage(1, 2, 0.5)
    Usage(prompt_tokens=11, completion_tokens=7, cost_usd=0.75)
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from claude_orchestrator.errors import SupervisorError, SupervisorRefused
from claude_orchestrator.secrets import Redactor
from claude_orchestrator.supervisor.api_errors import (
    CONTEXT_HINTS,
    error_code,
    mentions_bad_model,
    one_line,
    parse_retry_after,
    server_message,
    status_label,
    status_phrase,
)
from claude_orchestrator.trust import shown_url, url_password

if TYPE_CHECKING:
    import httpx2

__all__ = [
    "RefusalReason",
    "RetryNotice",
    "SupervisorClient",
    "SupervisorError",
    "SupervisorRefused",
    "SupervisorReply",
    "Usage",
]

RefusalReason = Literal["auth", "credits", "model", "context", "forbidden"]

_RETRYABLE_STATUS = frozenset({408, 409, 429})


# --- data ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """Tokens and cost of one or more calls (cost as reported by OpenRouter, else 0.0)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cost_usd + other.cost_usd,
        )

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class SupervisorReply:
    """The supervisor's answer: its text (never empty), usage, the model that answered, and how
    many attempts it took (1 = first try)."""

    text: str
    usage: Usage
    model: str
    attempts: int


@dataclass(frozen=True)
class RetryNotice:
    """Sent to ``on_retry`` before each wait: attempt ``attempt`` (1-based) failed for ``reason``;
    the next try comes after ``delay`` seconds; at most ``max_retries`` retries in all."""

    attempt: int
    max_retries: int
    delay: float
    reason: str


# --- helpers ---------------------------------------------------------------------------------

class _Transient(Exception):
    """A failure worth another try; ``reason`` is one line, already redacted."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _Unreachable(_Transient):
    """Could not connect at all."""


class _Cutoff:
    """The whole call's deadline, from connect to the last byte: at `seconds` the call's socket
    is shut down, whatever the server does. httpx2's timeouts bound each read, not the call, so
    a server that trickled its status line and headers a byte at a time was never cut (the
    body's own loop checks the deadline too). The socket is learnt from the connection's trace
    (a connection per call: nothing is kept alive between calls)."""

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def trace(self, name: str, info: Mapping[str, Any]) -> None:
        if not name.endswith(("connect_tcp.complete", "connect_unix_socket.complete")):
            return
        stream = info.get("return_value")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if not isinstance(sock, socket.socket):
            return
        with self._lock:
            self._sock = sock
            fired = self.fired
        if fired:
            self._cut(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            sock = self._sock
        if sock is not None:
            self._cut(sock)

    @staticmethod
    def _cut(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> _Cutoff:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()


# --- the client ------------------------------------------------------------------------------


class SupervisorClient:
    """A chat-completions client with visible retries, usage accounting and clear refusals.

    Examples:
        >>> c = SupervisorClient(base_url="http://127.0.0.1:9/v1", api_key="sk-secret-1234",
        ...                      model="m/x")
        >>> "sk-secret" in repr(c)
        False
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str,
        timeout: float = 120.0,
        max_retries: int = 6,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[RetryNotice], None] | None = None,
        app_title: str = "claude-orchestrator",
        app_url: str = "https://github.com/claude-orchestrator/claude-orchestrator",
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if timeout <= 0:
            raise ValueError("timeout must be > 0")
        if not api_key.strip():
            raise ValueError("api_key is empty")
        self.base_url = base_url.rstrip("/")
        self._shown_url = shown_url(self.base_url)  # a password in it is never shown
        self.model = model
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.app_title = app_title
        self.app_url = app_url
        self._api_key = api_key
        # The key (or any 12 characters of it), and a password in the base URL.
        self._redactor = Redactor([api_key, url_password(base_url)])
        self._sleep = sleep
        self._on_retry = on_retry
        self._jitter = jitter
        self._http: httpx2.Client | None = None

    def __repr__(self) -> str:
        return (
            f"SupervisorClient(base_url={self._shown_url!r}, model={self.model!r}, "
            f"timeout={self.timeout!r}, max_retries={self.max_retries!r})"
        )

    # resources
    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> SupervisorClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _client(self) -> httpx2.Client:
        if self._http is None:
            import httpx2  # lazy: keeps start-up fast when no supervisor is used

            from claude_orchestrator.version import __version__

            self._http = httpx2.Client(
                timeout=self.timeout,  # each connect, read and write; the call has a deadline
                follow_redirects=False,  # a redirect must not carry the key elsewhere
                # A new connection per call: its socket is what the deadline cuts (_Cutoff).
                limits=httpx2.Limits(max_keepalive_connections=0),
                headers={
                    "Authorization": f"Bearer {self._api_key}",
                    "Accept": "application/json",
                    "User-Agent": f"claude-orchestrator/{__version__}",
                    "HTTP-Referer": self.app_url,
                    "X-Title": self.app_title,
                },
            )
        return self._http

    # the call
    def complete(self, messages: Sequence[Mapping[str, str]]) -> SupervisorReply:
        """Send ``messages`` and return the supervisor's non-empty reply.

        Retries transient failures (429, 408, 409, 5xx, timeouts, connection errors, malformed or
        empty answers) up to ``max_retries`` times; raises :class:`SupervisorRefused` at once on a
        permanent refusal, :class:`SupervisorError` otherwise.
        """
        payload = [dict(m) for m in messages]
        attempt = 0
        while True:
            attempt += 1
            try:
                text, usage, model = self._attempt(payload)
                return SupervisorReply(text=text, usage=usage, model=model, attempts=attempt)
            except _Transient as failure:
                if attempt > self.max_retries:
                    self._give_up(failure, attempt)
                delay = self._delay(attempt, failure.retry_after)
                if self._on_retry is not None:
                    self._on_retry(RetryNotice(attempt, self.max_retries, delay, failure.reason))
                self._sleep(delay)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.backoff_max)
        ceiling = min(self.backoff_max, self.backoff_base * (2.0 ** min(attempt - 1, 60)))
        return ceiling * self._jitter()

    def _give_up(self, failure: _Transient, attempts: int) -> NoReturn:
        if isinstance(failure, _Unreachable):
            message = f"{failure.reason} ({attempts} attempts)"
        else:
            message = f"supervisor API failed {attempts} times; last: {failure.reason}"
        raise SupervisorError(message) from None

    def _redact(self, text: str) -> str:
        return self._redactor(text)

    def _attempt(self, payload: list[dict[str, str]]) -> tuple[str, Usage, str]:
        import httpx2

        client = self._client()
        deadline = time.monotonic() + self.timeout
        request = {"model": self.model, "messages": payload, "usage": {"include": True}}
        slow = (f"no whole answer within {self.timeout:g} s (timeout; the server kept sending "
                "slowly)")
        with _Cutoff(self.timeout) as cutoff:
            try:
                # Streamed, so the body's loop keeps the deadline too; the cutoff covers the
                # connection, the status line and the headers.
                with client.stream("POST", f"{self.base_url}/chat/completions", json=request,
                                   extensions={"trace": cutoff.trace}) as response:
                    chunks: list[bytes] = []
                    for chunk in response.iter_bytes():
                        chunks.append(chunk)
                        if time.monotonic() > deadline:
                            raise _Transient(slow)
                    status, headers = response.status_code, dict(response.headers.items())
            except httpx2.TimeoutException:
                raise _Transient(f"no answer within {self.timeout:g} s (timeout)") from None
            except httpx2.TransportError as exc:
                if cutoff.fired:
                    raise _Transient(slow) from None
                detail = one_line(self._redact(str(exc) or type(exc).__name__))
                raise _Unreachable(f"cannot reach the supervisor API at {self._shown_url}: "
                                   f"{detail}") from None
            except httpx2.HTTPError as exc:  # the request could not even be made
                detail = one_line(self._redact(str(exc) or type(exc).__name__))
                raise SupervisorError(f"cannot call the supervisor API: {detail}") from None
        body_text = b"".join(chunks).decode("utf-8", "replace")
        if not 200 <= status < 300:
            try:
                body: object = json.loads(body_text)
            except ValueError:
                body = body_text.strip()
            self._raise_for_status(status, body, headers)
        return self._parse(body_text)

    def _raise_for_status(self, status: int, body: object, headers: Mapping[str, str]) -> NoReturn:
        message = one_line(self._redact(server_message(body)))
        lowered = f"{message} {error_code(body)}".lower()
        label = status_label(status)
        if status in _RETRYABLE_STATUS or status >= 500:
            said_more = message and message != status_phrase(status)
            reason = f"{label}: {message}" if said_more else label
            raise _Transient(one_line(reason), parse_retry_after(headers))
        said = f": {message}" if message else ""
        if status == 401:
            raise SupervisorRefused(
                "the supervisor API rejected the key (401): check OPENROUTER_API_KEY",
                "auth",
                status,
            ) from None
        if status == 402:
            raise SupervisorRefused(
                f"the supervisor API account has no credits left (402){said}", "credits", status
            ) from None
        if status == 413 or (status == 400 and any(h in lowered for h in CONTEXT_HINTS)):
            raise SupervisorRefused(
                f"the conversation is too long for model '{self.model}' ({status}){said}",
                "context",
                status,
            ) from None
        if status in (400, 404) and mentions_bad_model(lowered):
            raise SupervisorRefused(
                f"unknown model '{self.model}' ({status}): check OPENROUTER_MODEL{said}",
                "model",
                status,
            ) from None
        if status == 403:
            raise SupervisorRefused(
                f"the supervisor API refused the request (403){said}", "forbidden", status
            ) from None
        hint = f" at {self._shown_url}: check OPENROUTER_BASE_URL" if status == 404 else ""
        raise SupervisorError(f"the supervisor API answered {label}{hint}{said}") from None

    def _parse(self, body_text: str) -> tuple[str, Usage, str]:
        try:
            data: Any = json.loads(body_text)
        except ValueError:
            snippet = one_line(self._redact(body_text), 60)
            raise _Transient(f"the answer was not JSON: {snippet!r}") from None
        if not isinstance(data, dict):
            raise _Transient("the answer was not a JSON object")
        # OpenRouter can report an upstream failure inside a 200 body.
        if "choices" not in data and isinstance(data.get("error"), Mapping):
            code = data["error"].get("code")
            status = code if isinstance(code, int) and 400 <= code <= 599 else 502
            self._raise_for_status(status, data, {})
        choices = data.get("choices")
        if not isinstance(choices, list):
            raise _Transient("the answer had no choices")
        if not choices:
            raise _Transient("the answer had empty choices")
        first = choices[0]
        message = first.get("message") if isinstance(first, Mapping) else None
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, list):  # content parts
            content = "".join(
                part.get("text", "")
                for part in content
                if isinstance(part, Mapping) and isinstance(part.get("text"), str)
            )
        if content is None:
            raise _Transient("the answer had no message content")
        if not isinstance(content, str):
            raise _Transient("the answer's content was not text")
        if not content.strip():
            raise _Transient("the answer was empty")
        model = data.get("model")
        return content, _usage(data.get("usage")), model if isinstance(model, str) else self.model


def _usage(raw: object) -> Usage:
    if not isinstance(raw, Mapping):
        return Usage()

    def number(key: str) -> float:
        value = raw.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return 0.0
        return float(value) if math.isfinite(value) else 0.0

    return Usage(
        prompt_tokens=int(number("prompt_tokens")),
        completion_tokens=int(number("completion_tokens")),
        cost_usd=number("cost"),
    )
