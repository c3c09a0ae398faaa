"""The web page's and the notifications' rules that need no server: which Host headers name
the server, what a token file must be, which runs need a person, what a notification says, and
where a tasks file may name a notification URL."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from claude_orchestrator.batch.tasks import parse_toml
from claude_orchestrator.config import resolve
from claude_orchestrator.errors import ConfigError, UsageError
from claude_orchestrator.notify import end_message
from claude_orchestrator.runlog import RunRecord
from claude_orchestrator.web.guard import Guard, read_token_file
from claude_orchestrator.web.html import Esc
from claude_orchestrator.web.needs import category, needs_you


def run(**changes: object) -> RunRecord:
    base: dict[str, object] = dict(
        id="20261201-020044-ab8d", mode="autonomous", task="Tidy it\nmore", workdir="/w",
        model=None, session="co-x", socket="k", agent_session_id=None, settings={},
        status="complete", exit_code=0, message="task complete",
        started_at=datetime.now(UTC), ended_at=datetime.now(UTC), pid=1,
        host="h", turns=2, prompt_tokens=0, completion_tokens=0, cost_usd=0.5,
        claude_cost_usd=1.25, branch="orchestrator/x", files_changed=3)
    base.update(changes)
    return RunRecord(**base)  # type: ignore[arg-type]


def test_host_headers_that_name_the_server() -> None:
    loop = Guard("127.0.0.1", 8765, None)
    assert loop.host_ok("127.0.0.1:8765") and loop.host_ok("localhost:8765")
    assert loop.host_ok("[::1]:8765")
    for bad in (None, "", "127.0.0.1", "evil.example:8765", "127.0.0.1:8766",
                "localhost.evil.example:8765"):
        assert not loop.host_ok(bad), bad
    bound = Guard("192.0.2.7", 9000, "t" * 20)
    assert bound.host_ok("192.0.2.7:9000") and not bound.host_ok("localhost:9000")


def test_the_token_and_the_one_time_link() -> None:
    guard = Guard("0.0.0.0", 1, "a-token-of-twenty-chars")
    assert not guard.authorised({"Authorization": "Bearer wrong"})  # type: ignore[arg-type]
    headers = {"Authorization": "Bearer a-token-of-twenty-chars"}
    assert guard.authorised(headers)  # type: ignore[arg-type]
    assert not guard.authorised({"Cookie": "co_session=nope"})  # type: ignore[arg-type]
    assert guard.log_in(guard.login_code) and not guard.log_in(guard.login_code)
    assert guard.authorised({"Cookie": f"x=1; co_session={guard.session}"})  # type: ignore[arg-type]
    assert not Guard("127.0.0.1", 1, None).log_in("anything")


def test_a_token_file_must_be_private_and_hold_a_token(tmp_path: Path) -> None:
    f = tmp_path / "token"
    f.write_text("short\n")
    f.chmod(0o600)
    with pytest.raises(UsageError, match="16 to 4096"):
        read_token_file(f)
    f.write_text("a-long-enough-token-0123\n")
    assert read_token_file(f) == "a-long-enough-token-0123"
    f.chmod(0o640)
    with pytest.raises(UsageError, match="chmod 600"):
        read_token_file(f)
    f.chmod(0o600)
    link = tmp_path / "link"
    link.symlink_to(f)
    with pytest.raises(UsageError):
        read_token_file(link)


def test_which_runs_need_a_person() -> None:
    assert needs_you(run()) is None and category(run()) == "done"
    budget = run(status="budget", exit_code=3, message="cost budget reached",
                 next_step="claude-orchestrator resume x --max-cost 10")
    need = needs_you(budget)
    assert need is not None and need.command.endswith("--max-cost 10")
    dialog = run(status="failed", exit_code=5, next_step="answer it in tmux (tmux -L k attach "
                 "-t co-x), then: claude-orchestrator resume x")
    assert needs_you(dialog) is not None and needs_you(dialog).dialog  # type: ignore[union-attr]
    waiting = run(status="running", activity="waiting: a question", ended_at=None)
    assert needs_you(waiting).command == "tmux -L k attach -t co-x"  # type: ignore[union-attr]
    assert needs_you(run(status="running", activity="working")) is None
    assert needs_you(run(status="interrupted", message="interrupted")) is None
    assert needs_you(run(status="interrupted", ended_at=None)) is not None  # it died
    assert category(run(status="failed", exit_code=1)) == "failed"


def test_a_notification_says_status_task_cost_branch_and_the_way_on() -> None:
    title, body = end_message(run())
    assert title == "complete: Tidy it"
    assert "cost: $1.7500" in body and "orchestrator/x, 3 file(s) changed" in body
    title, body = end_message(run(status="stuck", exit_code=6, message="no progress",
                                  next_step="claude-orchestrator resume x"))
    assert title == "needs you: Tidy it" and body.startswith("stuck:")
    assert "next: claude-orchestrator resume x" in body


def test_esc_redacts_then_shows_escapes_then_escapes_html() -> None:
    e = Esc(lambda s: s.replace("sk-secret-value", "[REDACTED]"))
    assert e('<a href="x">sk-secret-value</a>\u202e') == (
        "&lt;a href=&quot;x&quot;&gt;[REDACTED]&lt;/a&gt;\\u202e")


def test_notify_urls_from_flags_env_and_dotenv(tmp_path: Path) -> None:
    env = {"CLAUDE_ORCHESTRATOR_NOTIFY": "json://127.0.0.1:1/a, ntfy://topic"}
    assert resolve({}, env).notify == ("json://127.0.0.1:1/a", "ntfy://topic")
    assert resolve({"notify": ["tgram://t/1"]}, env).notify == ("tgram://t/1",)
    with pytest.raises(ConfigError, match=r"nonsense://\[REDACTED\]"):
        resolve({"notify": ["nonsense://", "not a url"]}, {})
    with pytest.raises(ConfigError, match=r"from \./\.env is refused"):
        resolve({}, env, from_dotenv=["CLAUDE_ORCHESTRATOR_NOTIFY"])
    settings = resolve({"notify": ["tgram://bot:token/1"]}, {}).public_settings()
    assert settings["notify"] == "tgram://[REDACTED]"


def test_a_tasks_file_names_notify_at_its_top_and_only_when_trusted(tmp_path: Path) -> None:
    top, _ = parse_toml('notify = ["ntfy://t"]\n[[task]]\ntask = "x"\n', tmp_path)
    assert top["notify"] == ["ntfy://t"]
    with pytest.raises(UsageError, match="put it at the top"):
        parse_toml('[[task]]\ntask = "x"\nnotify = "ntfy://t"\n', tmp_path)
    with pytest.raises(UsageError, match="--trust-tasks-file"):
        parse_toml('notify = "ntfy://t"\n[[task]]\ntask = "x"\n', tmp_path, trusted=False)


def test_the_inbox_takes_one_message_per_connection(tmp_path: Path) -> None:
    from claude_orchestrator.runtime.inbox import Inbox, send

    folder = tmp_path / ("long-" * 20)  # past AF_UNIX's 108 bytes
    folder.mkdir(mode=0o700)
    arrived: list[int] = []
    inbox = Inbox(folder, on_arrival=lambda: arrived.append(1)).open()
    try:
        assert oct(os.stat(inbox.path).st_mode & 0o777) == "0o600"
        assert send(folder, "hello\nsecond line") == ""
        assert inbox.take() == ["hello\nsecond line"] and arrived == [1]
        assert "JSON line" in send(folder, "  ")  # nothing to deliver: refused
        assert inbox.take() == []
    finally:
        inbox.close()
    assert not inbox.path.exists()
    assert "no inbox" in send(folder, "late")


def test_the_page_names_each_runs_node_ray_job_and_attach_command_when_spread() -> None:
    """Runs on a Ray cluster's nodes: the At work table says where each works, its job, and
    the command that attaches there; runs all here (no job) keep the table as it was."""
    from datetime import timedelta

    from claude_orchestrator.web.overview import Night, at_work

    now = datetime.now(UTC)
    spread = run(id="20261201-020044-ab8d", status="running", ended_at=None, host="node-2",
                 job_id="20261201-020044-ab8d.2", session="co-20261201-020044-ab8d")
    night = Night(now - timedelta(hours=1), now, [spread], {}, {}, {}, {}, {}, {})
    html = at_work(night, Esc(lambda s: s))
    assert "<th>node</th><th>ray job</th><th>watch there</th>" in html
    assert ">node-2<" in html and ">20261201-020044-ab8d.2<" in html
    assert "<code>tmux -L k attach -t co-20261201-020044-ab8d</code>" in html
    here = run(status="running", ended_at=None, host=os.uname().nodename)
    plain = at_work(Night(now - timedelta(hours=1), now, [here], {}, {}, {}, {}, {}, {}),
                    Esc(lambda s: s))
    assert "ray job" not in plain
