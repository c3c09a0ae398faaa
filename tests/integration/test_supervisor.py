"""The supervisor client against a local fake OpenAI-compatible server."""

from __future__ import annotations

import email.utils
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from typing import Any

import pytest

from claude_orchestrator.supervisor import (
    RetryNotice,
    SupervisorClient,
    SupervisorError,
    SupervisorRefused,
    Usage,
)
from tests.fakes.fake_openai import (
    Delay,
    EmptyChoices,
    FakeOpenAI,
    HttpError,
    Malformed,
    NoChoices,
    Raw,
    Reply,
    Trickle,
)

KEY = "sk-or-v1-FAKEKEY-d3adb33f-0123456789abcdef"
MESSAGES = [
    {"role": "system", "content": "You drive Claude Code."},
    {"role": "user", "content": "Task: fix the bug\nline two\n\tindented"},
]


class Recorder:
    """Injected ``sleep`` and ``on_retry``: records instead of waiting."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.notices: list[RetryNotice] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def notice(self, notice: RetryNotice) -> None:
        self.notices.append(notice)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


def make_client(
    base_url: str, rec: Recorder, *, model: str = "anthropic/claude-opus-4.6", **kwargs: Any
) -> SupervisorClient:
    options: dict[str, Any] = {"timeout": 5.0, "max_retries": 6}
    options.update(kwargs)
    return SupervisorClient(
        base_url=base_url,
        api_key=KEY,
        model=model,
        sleep=rec.sleep,
        on_retry=rec.notice,
        **options,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_no_secret(*texts: object) -> None:
    for text in texts:
        assert KEY not in str(text)
        assert "FAKEKEY" not in str(text)


def assert_clean_error(exc: BaseException) -> None:
    """One line, no key anywhere, not even in the printed traceback."""
    message = str(exc)
    assert message and "\n" not in message
    printed = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    assert_no_secret(message, repr(exc), printed)


# --- success --------------------------------------------------------------------------------


def test_success_returns_text_usage_cost_and_sends_attribution(
    fake: FakeOpenAI, rec: Recorder
) -> None:
    fake.enqueue(Reply("Do step one.\nThen step two.", 120, 30, cost=0.0123, model="anthr/opus"))
    with make_client(
        fake.base_url, rec, app_title="my-title", app_url="https://example.test/x"
    ) as c:
        reply = c.complete(MESSAGES)

    assert reply.text == "Do step one.\nThen step two."
    assert reply.usage == Usage(prompt_tokens=120, completion_tokens=30, cost_usd=0.0123)
    assert reply.model == "anthr/opus"
    assert reply.attempts == 1
    assert rec.sleeps == [] and rec.notices == []

    [request] = fake.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["http-referer"] == "https://example.test/x"
    assert request.headers["x-title"] == "my-title"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.json["model"] == "anthropic/claude-opus-4.6"
    assert request.json["messages"] == MESSAGES  # multi-line and tabs intact
    assert request.json["usage"] == {"include": True}


def test_default_attribution_headers_and_openrouter_path(fake: FakeOpenAI, rec: Recorder) -> None:
    fake.enqueue(Reply("ok"))
    make_client(fake.openrouter_base_url + "/", rec).complete(MESSAGES)
    [request] = fake.requests
    assert request.path == "/api/v1/chat/completions"
    assert request.headers["x-title"] == "claude-orchestrator"
    assert request.headers["http-referer"].startswith("https://github.com/")


def test_missing_cost_and_usage_count_as_zero(fake: FakeOpenAI, rec: Recorder) -> None:
    fake.enqueue(Reply("a", 5, 6, cost=None), Reply("b", include_usage=False))
    client = make_client(fake.base_url, rec)
    assert client.complete(MESSAGES).usage == Usage(5, 6, 0.0)
    assert client.complete(MESSAGES).usage == Usage(0, 0, 0.0)


def test_usage_adds_up() -> None:
    total = Usage(1, 2, 0.5) + Usage(10, 20, 0.25)
    assert total == Usage(11, 22, 0.75)
    assert total.total_tokens == 33
    assert sum([Usage(1, 1, 1.0)] * 3, Usage()) == Usage(3, 3, 3.0)


def test_default_responder_sees_the_request(rec: Recorder) -> None:
    seen: list[dict[str, Any]] = []

    def respond(request: dict[str, Any]) -> str:
        seen.append(request)
        return f"turn {len(seen)}"

    with FakeOpenAI(responder=respond) as fake:
        client = make_client(fake.base_url, rec)
        assert client.complete(MESSAGES).text == "turn 1"
        assert client.complete(MESSAGES).text == "turn 2"  # pooled connection reused fine
    assert seen[0]["messages"] == MESSAGES


def test_environment_of_the_openai_sdk_does_not_leak_in(
    fake: FakeOpenAI, rec: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_ORG_ID", "org-should-not-be-sent")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-should-not-be-sent")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("OPENAI_CUSTOM_HEADERS", "Authorization: Bearer other-key")
    fake.enqueue(Reply("ok"))
    make_client(fake.base_url, rec).complete(MESSAGES)
    [request] = fake.requests
    assert "openai-organization" not in request.headers
    assert "openai-project" not in request.headers
    assert request.headers["authorization"] == f"Bearer {KEY}"


# --- transient failures, retried -------------------------------------------------------------


def test_429_honours_retry_after_seconds(fake: FakeOpenAI, rec: Recorder) -> None:
    fake.enqueue(HttpError(429, "Rate limit exceeded", headers={"Retry-After": "3"}), Reply("ok"))
    reply = make_client(fake.base_url, rec).complete(MESSAGES)
    assert reply.text == "ok"
    assert reply.attempts == 2
    assert rec.sleeps == [3.0]
    [notice] = rec.notices
    assert notice == RetryNotice(1, 6, 3.0, notice.reason)
    assert "429" in notice.reason and "Rate limit exceeded" in notice.reason
    assert len(fake.requests) == 2


def test_retry_after_ms_wins_and_retry_after_is_capped(fake: FakeOpenAI, rec: Recorder) -> None:
    fake.enqueue(
        HttpError(429, headers={"retry-after-ms": "250", "Retry-After": "9"}),
        HttpError(429, headers={"Retry-After": "3600"}),
        Reply("ok"),
    )
    make_client(fake.base_url, rec, backoff_max=20.0).complete(MESSAGES)
    assert rec.sleeps == [0.25, 20.0]


def test_retry_after_http_date(fake: FakeOpenAI, rec: Recorder) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    fake.enqueue(HttpError(503, headers={"Retry-After": when}), Reply("ok"))
    make_client(fake.base_url, rec).complete(MESSAGES)
    [delay] = rec.sleeps
    assert 25.0 <= delay <= 31.0


def test_500_then_success_with_jittered_backoff(fake: FakeOpenAI, rec: Recorder) -> None:
    fake.enqueue(HttpError(500), Reply("ok"))
    reply = make_client(fake.base_url, rec, backoff_base=2.0).complete(MESSAGES)
    assert (reply.text, reply.attempts) == ("ok", 2)
    [delay] = rec.sleeps
    assert 0.0 <= delay <= 2.0  # full jitter: uniform in [0, base]
    assert rec.notices[0].reason == "HTTP 500 Internal Server Error"


def test_backoff_is_exponential_and_capped(fake: FakeOpenAI, rec: Recorder) -> None:
    fake.enqueue(*[HttpError(s) for s in (500, 502, 503, 504, 408, 409)], Reply("ok"))
    client = make_client(fake.base_url, rec, backoff_base=1.0, backoff_max=10.0, jitter=lambda: 1.0)
    assert client.complete(MESSAGES).attempts == 7
    assert rec.sleeps == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert [n.attempt for n in rec.notices] == [1, 2, 3, 4, 5, 6]
    assert rec.sleeps == [n.delay for n in rec.notices]


def test_timeout_then_success(fake: FakeOpenAI, rec: Recorder) -> None:
    fake.enqueue(Delay(2.0, then=Reply("too late")), Reply("ok"))
    started = time.monotonic()
    reply = make_client(fake.base_url, rec, timeout=0.2).complete(MESSAGES)
    assert (reply.text, reply.attempts) == ("ok", 2)
    assert time.monotonic() - started < 1.5
    assert "timeout" in rec.notices[0].reason


def test_a_server_that_trickles_is_cut_at_the_whole_calls_deadline(fake: FakeOpenAI,
                                                                   rec: Recorder) -> None:
    """Each byte comes quickly, the whole answer would take minutes: the call is given up at
    its deadline (not each read's) and tried again."""
    fake.enqueue(Trickle(every=0.2), Reply("ok"))
    reply = make_client(fake.base_url, rec, timeout=1.0).complete(MESSAGES)
    assert (reply.text, reply.attempts) == ("ok", 2)
    assert "sending slowly" in rec.notices[0].reason


@pytest.mark.parametrize(
    "bad",
    [
        Malformed(),
        Malformed("<html>502 Bad Gateway</html>", content_type="text/html"),
        Malformed('{"choices": [', content_type="application/json"),
        Raw(200, '"just a string"'),
        EmptyChoices(),
        NoChoices(),
        Reply(None),  # "content": null
        Reply(""),
        Reply("  \n\t "),
        Raw(200, '{"error": {"code": 502, "message": "upstream provider error"}}'),
    ],
    ids=[
        "not-json",
        "html",
        "truncated-json",
        "json-string",
        "empty-choices",
        "no-choices",
        "null-content",
        "empty-content",
        "blank-content",
        "error-in-200",
    ],
)
def test_malformed_or_empty_answer_is_retried(fake: FakeOpenAI, rec: Recorder, bad: Any) -> None:
    fake.enqueue(bad, Reply("fine"))
    reply = make_client(fake.base_url, rec).complete(MESSAGES)
    assert (reply.text, reply.attempts) == ("fine", 2)
    assert len(rec.notices) == 1 and len(rec.sleeps) == 1


def test_empty_choices_forever_gives_up(fake: FakeOpenAI, rec: Recorder) -> None:
    fake.enqueue(*[EmptyChoices()] * 3)
    with pytest.raises(SupervisorError) as info:
        make_client(fake.base_url, rec, max_retries=2).complete(MESSAGES)
    assert not isinstance(info.value, SupervisorRefused)
    assert str(info.value) == "supervisor API failed 3 times; last: the answer had empty choices"
    assert len(fake.requests) == 3
    assert len(rec.notices) == 2


def test_retries_exhausted_names_the_last_failure(fake: FakeOpenAI, rec: Recorder) -> None:
    fake.enqueue(HttpError(500), *[HttpError(503)] * 6)
    with pytest.raises(SupervisorError) as info:
        make_client(fake.base_url, rec).complete(MESSAGES)
    assert str(info.value) == "supervisor API failed 7 times; last: HTTP 503 Service Unavailable"
    assert len(fake.requests) == 7
    assert [n.attempt for n in rec.notices] == [1, 2, 3, 4, 5, 6]
    assert all(n.max_retries == 6 for n in rec.notices)
    assert_clean_error(info.value)


def test_max_retries_zero_means_one_attempt(fake: FakeOpenAI, rec: Recorder) -> None:
    fake.enqueue(HttpError(429))
    with pytest.raises(SupervisorError, match="failed 1 times"):
        make_client(fake.base_url, rec, max_retries=0).complete(MESSAGES)
    assert rec.sleeps == []


def test_connection_refused_is_retried_then_names_the_url(rec: Recorder) -> None:
    base_url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(SupervisorError) as info:
        make_client(base_url, rec, max_retries=3).complete(MESSAGES)
    assert not isinstance(info.value, SupervisorRefused)
    message = str(info.value)
    assert message.startswith(f"cannot reach the supervisor API at {base_url}")
    assert "4 attempts" in message
    assert len(rec.notices) == 3 and len(rec.sleeps) == 3
    assert_clean_error(info.value)


# --- permanent refusals, never retried -------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "reason", "expected"),
    [
        (HttpError(401, "No auth credentials found"), "auth", "rejected the key (401)"),
        (HttpError(402, "Insufficient credits"), "credits", "Insufficient credits"),
        (HttpError(403, "Your input was flagged"), "forbidden", "(403)"),
        (HttpError(404, "No endpoints found for nope/model."), "model", "unknown model 'nope/m'"),
        (HttpError(404, "The model `nope/m` does not exist"), "model", "unknown model"),
        (HttpError(400, "nope/m is not a valid model ID"), "model", "unknown model 'nope/m'"),
        (
            HttpError(400, "This endpoint's maximum context length is 200000 tokens."),
            "context",
            "too long for model 'nope/m'",
        ),
        (
            HttpError(
                400,
                body={"error": {"message": "Too many.", "code": "context_length_exceeded"}},
            ),
            "context",
            "too long",
        ),
        (HttpError(400, "prompt is too long: 210000 tokens > 200000"), "context", "(400)"),
        (HttpError(413, "Payload Too Large"), "context", "(413)"),
    ],
    ids=[
        "401",
        "402",
        "403",
        "404-no-endpoints",
        "404-model",
        "400-model",
        "400-context",
        "400-context-code",
        "400-too-long",
        "413",
    ],
)
def test_refusals_are_permanent(
    fake: FakeOpenAI, rec: Recorder, error: HttpError, reason: str, expected: str
) -> None:
    fake.enqueue(error, Reply("must not be reached"))
    with pytest.raises(SupervisorRefused) as info:
        make_client(fake.base_url, rec, model="nope/m").complete(MESSAGES)
    assert info.value.reason == reason
    assert info.value.status == error.status
    assert expected in str(info.value)
    assert len(fake.requests) == 1
    assert rec.sleeps == [] and rec.notices == []
    assert_clean_error(info.value)


def test_401_message(fake: FakeOpenAI, rec: Recorder) -> None:
    fake.enqueue(HttpError(401, f"Invalid key {KEY}"))
    with pytest.raises(SupervisorRefused) as info:
        make_client(fake.base_url, rec).complete(MESSAGES)
    assert str(info.value) == "the supervisor API rejected the key (401): check OPENROUTER_API_KEY"


def test_refusal_inside_a_200_body(fake: FakeOpenAI, rec: Recorder) -> None:
    fake.enqueue(Raw(200, '{"error": {"code": 402, "message": "Insufficient credits"}}'))
    with pytest.raises(SupervisorRefused) as info:
        make_client(fake.base_url, rec).complete(MESSAGES)
    assert info.value.reason == "credits"


def test_other_4xx_is_an_error_with_the_server_message(fake: FakeOpenAI, rec: Recorder) -> None:
    long_message = "messages[1].role: invalid value " + "x" * 500
    fake.enqueue(HttpError(422, long_message))
    with pytest.raises(SupervisorError) as info:
        make_client(fake.base_url, rec).complete(MESSAGES)
    assert not isinstance(info.value, SupervisorRefused)
    message = str(info.value)
    assert "HTTP 422" in message and "messages[1].role: invalid value" in message
    assert len(message) < 300
    assert len(fake.requests) == 1 and rec.sleeps == []
    assert_clean_error(info.value)


def test_404_without_a_model_hint_points_at_the_base_url(fake: FakeOpenAI, rec: Recorder) -> None:
    base_url = f"http://127.0.0.1:{fake.port}/wrong"
    with pytest.raises(SupervisorError) as info:
        make_client(base_url, rec).complete(MESSAGES)
    assert not isinstance(info.value, SupervisorRefused)
    assert "HTTP 404" in str(info.value) and base_url in str(info.value)
    assert "OPENROUTER_BASE_URL" in str(info.value)


def test_400_without_hints_is_not_a_refusal(fake: FakeOpenAI, rec: Recorder) -> None:
    fake.enqueue(HttpError(400, "messages: field required"))
    with pytest.raises(SupervisorError) as info:
        make_client(fake.base_url, rec).complete(MESSAGES)
    assert not isinstance(info.value, SupervisorRefused)
    assert "HTTP 400 Bad Request: messages: field required" in str(info.value)


# --- secrets ---------------------------------------------------------------------------------


def test_the_key_never_appears_in_messages_notices_or_repr(fake: FakeOpenAI, rec: Recorder) -> None:
    echo = f"Incorrect API key provided: {KEY}. Authorization: Bearer {KEY}"
    client = make_client(fake.base_url, rec, max_retries=3)
    assert_no_secret(repr(client), str(client))

    # retried failures echoing the key: every notice and the final error are clean
    fake.enqueue(
        HttpError(500, echo),
        HttpError(429, body={"error": {"message": echo, "metadata": {"raw": KEY}}}),
        Malformed(f"<html>{echo}</html>"),
        Raw(200, f'{{"error": {{"code": 503, "message": "{echo}"}}}}'),
    )
    with pytest.raises(SupervisorError) as info:
        client.complete(MESSAGES)
    assert len(rec.notices) == 3
    assert_no_secret(*(n.reason for n in rec.notices), *(repr(n) for n in rec.notices))
    assert_clean_error(info.value)
    assert "[REDACTED]" in str(info.value)

    # refusals and other 4xx echoing the key
    for status in (401, 402, 403, 404, 400, 413, 422, 418):
        fake.enqueue(HttpError(status, f"model context too long {echo}"))
        with pytest.raises(SupervisorError) as info:
            client.complete(MESSAGES)
        assert_clean_error(info.value)


def test_importing_the_module_imports_no_http_client() -> None:
    code = ("import sys, claude_orchestrator.supervisor, claude_orchestrator.cli; "
            "print(sorted({'openai', 'httpx2'} & set(sys.modules)))")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"  # loaded only when a supervisor is called


def test_bad_arguments_are_rejected_up_front() -> None:
    with pytest.raises(ValueError, match="api_key"):
        SupervisorClient(base_url="http://127.0.0.1:9/v1", api_key=" ", model="m")
    with pytest.raises(ValueError, match="max_retries"):
        SupervisorClient(base_url="http://127.0.0.1:9/v1", api_key=KEY, model="m", max_retries=-1)
