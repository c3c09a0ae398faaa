"""`serve` in a real browser (Debian's Chromium, headless, one for the session), over real
runs: the CLI with the simulated agent on a real tmux server and the fake supervisor, and a
night of runs written through `RunLog`. A screenshot of every page is left in
`test-output/<test>/`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator.runlog import RunLog
from tests.fakes.fake_openai import FakeOpenAI, Reply
from tests.fakes.night import make_night
from tests.integration.conftest import fake_agent_cmd, run_cli, wait_until
from tests.integration.terminal import Terminal
from tests.integration.web import Serve, serving

KEY = "sk-or-v1-WEBTEST-5ecr3t-0a1b2c3d4e5f6a7b8c9d0e1f2a3b"
DONE = "Summary: done.\nTASK_COMPLETE"


@pytest.fixture
def supervisor() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def env(cli_env: dict[str, str], supervisor: FakeOpenAI) -> dict[str, str]:
    return dict(cli_env, OPENROUTER_API_KEY=KEY, OPENROUTER_BASE_URL=supervisor.base_url)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def auto(socket: str, work: Path, task: str, *extra: str) -> list[str]:
    return ["--task", task, "--socket", socket, "--agent", "claude", "--claude-cmd",
            fake_agent_cmd(), "--terminate-when-quit", *extra, str(work)]


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def loaded_once(page: Any) -> None:
    """Mark the document, so a reload (which would drop the mark) is seen."""
    page.evaluate("window.__same_document = 'yes'")


def same_document(page: Any) -> bool:
    return bool(page.evaluate("window.__same_document === 'yes'"))


# ----------------------------------------------------------------------------- the overview
def test_the_overview_lists_the_nights_runs(env: dict[str, str], page: Any,
                                            shots: Path) -> None:
    ids = make_night(Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"]), 12)
    with serving(env) as server:
        page.goto(server.url)
        page.screenshot(path=str(shots / "overview.png"), full_page=True)
        table = page.locator("#runs").inner_text()
        for n in range(12):
            assert f"Task {n}: tidy module {n}" in table
        rows = page.locator("#runs tr[data-run]")
        assert rows.count() == 12
        assert sorted(rows.nth(i).get_attribute("data-run") for i in range(12)) == sorted(ids)
        # Spend apart: the supervisor's, and Claude's labelled an estimate, against the caps.
        live = page.locator("#live").inner_text()
        assert "supervisor $0.1080" in live and "~$0.3600" in live and "estimate" in live
        assert "in caps over 12 capped run(s)" in live
        # Per batch and per day, and the plots, drawn inline.
        assert "batch-night-1" in page.locator("#by-batch").inner_text()
        assert page.locator("svg#spend-plot polyline").count() == 3
        assert page.locator("svg#turns-plot rect").count() >= 12
        # Pauses apart from work, with the reset time.
        assert "resets" in page.locator("#runs").inner_text()
        # The JSON is the same facts as runs --json.
        status, body = get(server.url + "api/runs")
        assert status == 200
        cli = json.loads(run_cli(["runs", "--json"], env, timeout=30).stdout)
        assert json.loads(body)[:len(cli)] == cli


def test_a_run_started_while_the_page_is_open_appears_without_a_reload(
        env: dict[str, str], socket_name: str, workdir: Path, supervisor: FakeOpenAI,
        page: Any, shots: Path) -> None:
    make_night(Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"]), 3)
    supervisor.enqueue(Reply("sleep 4"), Reply(DONE))
    with serving(env) as server:
        page.goto(server.url)
        page.wait_for_selector("#live-dot.on", timeout=10_000)  # the event stream is open
        loaded_once(page)
        assert "Watch the page" not in page.locator("#live").inner_text()
        run = subprocess.Popen([sys.executable, "-m", "claude_orchestrator",
                                *auto(socket_name, workdir, "Watch the page: a new run")],
                               env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        try:
            started = time.monotonic()
            page.locator("#at-work", has_text="Watch the page").wait_for(timeout=15_000)
            appeared = time.monotonic() - started
            page.screenshot(path=str(shots / "overview-with-the-new-run.png"), full_page=True)
            assert same_document(page), "the page was reloaded"
            # It works: the live part says so, then the run's page shows its pane.
            page.locator("#at-work", has_text="working").wait_for(timeout=15_000)
            run_id = page.locator("#at-work tr[data-run]", has_text="Watch the page") \
                .get_attribute("data-run")
            page.goto(server.url + f"runs/{run_id}")
            page.locator("#pane", has_text="sleep 4").wait_for(timeout=10_000)
            page.screenshot(path=str(shots / "run-page-with-its-pane.png"), full_page=True)
            loaded_once(page)
            # Its end reaches the open run page without a reload too.
            page.locator(".facts", has_text="complete").wait_for(timeout=30_000)
            assert same_document(page)
            page.screenshot(path=str(shots / "run-page-complete.png"), full_page=True)
        finally:
            _, err = run.communicate(timeout=60)
        assert run.returncode == 0, err
    print(f"the new run appeared {appeared:.1f}s after it was started")


def test_the_needs_you_lane_shows_a_stopped_run_with_its_command(
        env: dict[str, str], socket_name: str, workdir: Path, supervisor: FakeOpenAI,
        page: Any, shots: Path) -> None:
    supervisor.enqueue(Reply("one"), Reply("two"), Reply("three"))
    proc = run_cli(auto(socket_name, workdir, "Run out of iterations", "--max-iterations",
                        "2"), env)
    assert proc.returncode == 3, proc.stderr
    with RunLog(Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])) as log:
        run = log.list_runs()[0]
    assert run.status == "budget"
    with serving(env) as server:
        page.goto(server.url)
        lane = page.locator("#needs-you")
        item = lane.locator(f'.item[data-run="{run.id}"]')
        assert item.count() == 1
        text = item.inner_text()
        assert "Run out of iterations" in text and "budget" in text
        assert f"claude-orchestrator resume {run.id} --max-iterations 4" in text
        page.screenshot(path=str(shots / "needs-you.png"), full_page=True)


def test_the_timeline_shows_each_messages_delivery_state(
        env: dict[str, str], socket_name: str, workdir: Path, supervisor: FakeOpenAI,
        page: Any, shots: Path) -> None:
    supervisor.enqueue(Reply("first message"), Reply("second message"), Reply(DONE))
    proc = run_cli(auto(socket_name, workdir, "Two turns, both confirmed"), env)
    assert proc.returncode == 0, proc.stderr
    with RunLog(Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])) as log:
        run = log.list_runs()[0]
        # One more message that never reached Claude: the timeline says so.
        seq = log.begin_turn(run.id, "a message the run never delivered").seq
    with serving(env) as server:
        page.goto(server.url + f"runs/{run.id}")
        page.screenshot(path=str(shots / "timeline.png"), full_page=True)
        for n, words in ((1, "first message"), (2, "second message")):
            turn = page.locator(f"#turn-{n}")
            assert words in turn.inner_text()
            state = turn.locator("[data-delivery]")
            assert state.get_attribute("data-delivery") == "ok"
            assert "confirmed by UserPromptSubmit" in state.inner_text()
            assert "ended by Claude's Stop hook" in turn.inner_text()
            assert f"ECHO: {words}" in turn.inner_text()
        lost = page.locator(f"#turn-{seq}")
        assert lost.locator("[data-delivery]").get_attribute("data-delivery") == "bad"
        assert "never confirmed" in lost.inner_text()
        assert page.locator(".ev.sup").count() == 3  # every supervisor call, with its cost
        status, body = get(server.url + f"api/runs/{run.id}")
        assert status == 200 and json.loads(body)["turns_list"][0]["delivered_at"]


# ----------------------------------------------------------------------------- safety
def test_a_page_shows_no_secret_and_runs_no_markup_from_the_runs(
        env: dict[str, str], page: Any, shots: Path, tmp_path: Path) -> None:
    hostile = "<script>window.__owned = 1</script><img src=x onerror='window.__owned=2'>"
    with RunLog(Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])) as log:
        run = log.start_run(mode="autonomous", task=f"{hostile} and the key {KEY}",
                            workdir="/w", model=None, session="s", socket="k", settings={})
        seq = log.begin_turn(run.id, f"tell me \x1b]52;c;Zm9v\x07 {KEY[:20]}").seq
        log.finish_turn(run.id, seq, reply=f"Bearer abc.def {hostile}", ended_by="hook")
        log.finish_run(run.id, status="failed", exit_code=1, message=hostile)
    with serving(env) as server:
        for path in ("", f"runs/{run.id}"):
            page.goto(server.url + path)
            page.screenshot(path=str(shots / f"hostile-{path.replace('/', '-') or 'root'}.png"),
                            full_page=True)
            html = page.content()
            assert page.evaluate("window.__owned") is None
            assert KEY[:20] not in html and "abc.def" not in html
            assert "<script>window.__owned" not in html
            assert "&lt;script&gt;" in html or path == ""
        assert "\\x1b]52" in page.locator(f"#turn-{seq}").inner_text()
        status, body = get(server.url + f"api/runs/{run.id}")
        assert status == 200 and KEY[:20] not in body and "abc.def" not in body
    exported = run_cli(["show", run.id, "--html"], env, timeout=30)
    assert exported.returncode == 0, exported.stderr
    assert KEY[:20] not in exported.stdout and "<script>window" not in exported.stdout
    assert "http" not in exported.stdout.replace("http-equiv", "")  # nothing fetched
    (tmp_path / "run.html").write_text(exported.stdout)
    page.goto((tmp_path / "run.html").as_uri())
    assert page.evaluate("window.__owned") is None
    page.screenshot(path=str(shots / "exported.png"), full_page=True)


def test_serve_beyond_loopback_needs_a_token_and_checks_every_request(
        env: dict[str, str], tmp_path: Path, page: Any, shots: Path) -> None:
    make_night(Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"]), 2)
    refused = run_cli(["serve", "--host", "0.0.0.0", "--port", "0"], env, timeout=30)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "--token-file" in refused.stderr
    token_file = tmp_path / "token"
    token_file.write_text("a-long-enough-token-for-the-test-0123\n")
    token_file.chmod(0o644)
    loose = run_cli(["serve", "--host", "0.0.0.0", "--port", "0", "--token-file",
                     str(token_file)], env, timeout=30)
    assert loose.returncode == 2 and "chmod 600" in loose.stderr
    token_file.chmod(0o600)
    server = Serve(env, "--host", "0.0.0.0", "--token-file", str(token_file))
    try:
        port = server.url.rsplit(":", 1)[1].strip("/")
        local = f"http://127.0.0.1:{port}/"
        assert get(local)[0] == 401
        assert get(local + "api/runs")[0] == 401
        assert get(local + "events?topic=overview:24")[0] == 401
        assert get(local, {"Authorization": "Bearer wrong-token-wrong-token"})[0] == 401
        bearer = {"Authorization": "Bearer a-long-enough-token-for-the-test-0123"}
        assert get(local + "api/runs", bearer)[0] == 200
        assert get(local, {**bearer, "Host": f"rebound.example:{port}"})[0] == 421
        # The one-time link sets the cookie; it works once.
        link = server.login.replace(server.url, local)
        page.goto(link)
        assert page.url == local
        assert page.locator("#runs tr[data-run]").count() == 2
        page.screenshot(path=str(shots / "after-login.png"), full_page=True)
        assert get(link)[0] == 403
        assert "token" not in server.stop()
    finally:
        server.stop()


def test_loopback_serve_refuses_a_foreign_host_header(env: dict[str, str]) -> None:
    make_night(Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"]), 1)
    with serving(env) as server:
        port = server.url.rsplit(":", 1)[1].strip("/")
        assert get(server.url)[0] == 200
        assert get(server.url, {"Host": f"localhost:{port}"})[0] == 200
        for host in (f"attacker.example:{port}", "127.0.0.1", f"127.0.0.1:{int(port) + 1}"):
            assert get(server.url, {"Host": host})[0] == 421, host


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run as a second user")
def test_another_local_user_cannot_read_the_page(env: dict[str, str]) -> None:
    """Other users reach 127.0.0.1 too: a connection from another uid is refused."""
    make_night(Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"]), 1)
    with serving(env) as server:
        code = ("import urllib.request,urllib.error,sys\n"
                f"try: urllib.request.urlopen({server.url!r}, timeout=10)\n"
                "except urllib.error.HTTPError as e: sys.exit(e.code - 400)\n")
        other = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534",
                                "--clear-groups", sys.executable, "-c", code],
                               capture_output=True, timeout=30)
        assert other.returncode == 3, other.stderr  # 403
        assert get(server.url)[0] == 200


def test_show_html_of_a_batch_is_one_self_contained_file(env: dict[str, str], page: Any,
                                                          shots: Path, tmp_path: Path) -> None:
    make_night(Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"]), 6)
    out = run_cli(["show", "--batch", "batch-night-1", "--html"], env, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("<!doctype html>") and "<style>" in out.stdout
    assert "<script" not in out.stdout and "src=" not in out.stdout
    path = tmp_path / "batch.html"
    path.write_text(out.stdout)
    page.goto(path.as_uri())
    assert page.locator("section[id^=run-]").count() == 3
    page.screenshot(path=str(shots / "batch.png"), full_page=True)
    bad = run_cli(["show", "--batch", "batch-night-1"], env, timeout=30)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


# ----------------------------------------------------------------------------- --allow-send
def running_chat(env: dict[str, str]) -> str:
    with RunLog(Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])) as log:
        found = [r.id for r in log.list_runs() if r.mode == "chat" and r.status == "running"]
    return found[0] if found else ""


def test_allow_send_hands_a_message_to_a_running_chat_which_delivers_it(
        env: dict[str, str], socket_name: str, workdir: Path, agent_log: Path, page: Any,
        shots: Path) -> None:
    """The page's message goes to the chat's inbox; the chat (at its prompt on a terminal,
    a half-typed line kept) delivers it as a turn of its own, recorded as the page's."""
    term = Terminal([sys.executable, "-m", "claude_orchestrator", "--chat", "--socket",
                     socket_name, "--agent", "claude", "--claude-cmd", fake_agent_cmd(),
                     "--terminate-when-quit", str(workdir)], env, columns=120)
    try:
        assert term.wait_for("you>", 30), term.text()
        assert wait_until(lambda: bool(running_chat(env)), 10)
        run_id = running_chat(env)
        with serving(env) as plain:  # without --allow-send: no box, and a post is refused
            page.goto(plain.url + f"runs/{run_id}")
            assert page.locator("form.send").count() == 0
            request = urllib.request.Request(plain.url + f"runs/{run_id}/send",
                                              data=b"text=hi&csrf=x", method="POST")
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)
            assert refused.value.code == 403
        term.type(b"half typed", every=0.01)
        with serving(env, "--allow-send") as server:
            page.goto(server.url + f"runs/{run_id}")
            # A form from another site is refused (no secret, another origin).
            forged = urllib.request.Request(
                server.url + f"runs/{run_id}/send", data=b"text=forged&csrf=guess",
                headers={"Origin": "http://attacker.example"}, method="POST")
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(forged, timeout=10)
            assert refused.value.code == 403
            page.fill("form.send textarea", "hello from the page")
            page.screenshot(path=str(shots / "message-box.png"), full_page=True)
            page.click("form.send button")
            page.wait_for_load_state()
            assert page.locator("#send-note").count() == 1, page.content()
            assert term.wait_for("ECHO: hello from the page", 30), term.text()
            assert "(from the web page) hello from the page" in term.text()
            page.locator(".ev.msg", has_text="the web page").wait_for(timeout=15_000)
            page.screenshot(path=str(shots / "delivered.png"), full_page=True)
        term.type(b" and done\r")
        assert term.wait_for("ECHO: half typed and done", 30), term.text()
        term.type(b"/quit\r")
        assert term.wait(60) == 0, term.text()
    finally:
        if term.status is None:
            os.kill(term.pid, 9)
            term.wait(10)
    texts = [json.loads(line)["text"] for line in agent_log.read_text().splitlines()]
    assert texts == ["hello from the page", "half typed and done"]
    with RunLog(Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])) as log:
        turns = log.turns(run_id)
    assert [(t.source, t.message) for t in turns] == [("web", "hello from the page"),
                                                      ("chat", "half typed and done")]
