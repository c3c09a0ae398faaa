"""`batch` and `runs --watch` against the real Claude Code CLI (on the fake Anthropic API) and a
fake supervisor: tasks on one git repository run at most N at once, each in its own worktree
and branch, all in one run log; SIGTERM leaves every run resumable and `batch --resume`
finishes them; `runs --watch` shows them while they work (through a pty)."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator.runlog import RunLog
from tests.fakes.claude_env import claude_env, prepare_home
from tests.fakes.fake_anthropic import FakeAnthropic
from tests.fakes.fake_anthropic import Reply as ClaudeReply
from tests.fakes.fake_openai import FakeOpenAI
from tests.integration.conftest import run_cli, tmux_cmd, wait_until

pytestmark = pytest.mark.realcli

KEY = "sk-or-v1-BATCH-5ecr3t-0a1b2c3d4e5f6a7b8c9d0e1f"
ANTHROPIC_KEY = "sk-ant-api03-batch-test-key-0123456789abcdef"
NAMES = ("alpha", "beta", "gamma")


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def supervisor_says(request: dict[str, Any]) -> str:
    """Per run, from its own conversation: first the file to make, then done."""
    messages = request["messages"]
    first = next(m["content"] for m in messages if m["role"] == "user")
    name = next(n for n in NAMES if f"Task {n}" in first)
    if not any(m["role"] == "assistant" for m in messages):
        return f"create the file {name}.txt"
    return f"{name}.txt is there.\nTASK_COMPLETE"


class Claude:
    """The fake model: a Bash call that writes the file, then a short answer; `hold` makes
    the first answer to each message wait (a turn still running)."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}
        self.hold = 0.0
        self.lock = threading.Lock()

    def __call__(self, text: str) -> ClaudeReply:
        m = re.fullmatch(r"create the file (\w+)\.txt", text.strip())
        if m is None:
            return ClaudeReply(f"ECHO: {text}")
        with self.lock:
            n = self.seen[text] = self.seen.get(text, 0) + 1
        if n == 1:
            return ClaudeReply("", delay=self.hold or 1.5, tool_use={
                "name": "Bash", "input": {"command": f"echo {m[1]} > {m[1]}.txt",
                                          "description": "write the file"}})
        return ClaudeReply(f"Wrote {m[1]}.txt.")


@pytest.fixture
def world(tmp_path: Path, socket_name: str,
          cli_env: dict[str, str]) -> Iterator[tuple[Path, dict[str, str], FakeAnthropic,
                                                     FakeOpenAI, Claude]]:
    repo = tmp_path / "proj"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "README").write_text("project\n")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    tasks = tmp_path / "tasks.toml"
    tasks.write_text("max_iterations = 4\n" + "".join(
        f'\n[[task]]\ntask = "Task {n}: make {n}.txt"\nworkdir = "proj"\n' for n in NAMES))
    claude = Claude()
    with FakeAnthropic(claude) as api, FakeOpenAI(supervisor_says) as supervisor:
        home = prepare_home(tmp_path / "home", ANTHROPIC_KEY)
        env = claude_env(home, api.base_url, ANTHROPIC_KEY, base=cli_env)
        env.update(OPENROUTER_API_KEY=KEY, OPENROUTER_BASE_URL=supervisor.base_url,
                   CLAUDE_TMUX_SOCKET=socket_name)
        yield tasks, env, api, supervisor, claude


def sessions(socket: str) -> list[str]:
    out = tmux_cmd(socket, "list-sessions", "-F", "#{session_name}")
    return [s for s in out.stdout.split() if s] if out.returncode == 0 else []


class Watcher:
    """`runs --watch` in a terminal (a pty): everything it drew, and a way to press q."""

    def __init__(self, env: dict[str, str], batch: str | None = None) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            args = ["runs", "--watch", *(["--batch", batch] if batch else [])]
            os.execvpe(sys.executable, [sys.executable, "-m", "claude_orchestrator", *args],
                       dict(env, TERM="xterm-256color", COLUMNS="220", LINES="40"))
        self.seen = b""
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                ready, _, _ = select.select([self.fd], [], [], 0.2)
                if ready:
                    data = os.read(self.fd, 65536)
                    if not data:
                        return
                    with self.lock:
                        self.seen += data

    def text(self) -> str:
        with self.lock:
            return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", self.seen.decode(errors="replace"))

    def quit(self) -> int:
        os.write(self.fd, b"q")
        for _ in range(100):
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                with contextlib.suppress(OSError):
                    os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.1)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        raise AssertionError("runs --watch did not leave on q")


def overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one moment."""
    points = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    most = now = 0
    for _, d in points:
        now += d
        most = max(most, now)
    return most


def test_a_batch_runs_n_at_once_each_on_its_branch_in_one_log(
        world: tuple[Path, dict[str, str], FakeAnthropic, FakeOpenAI, Claude],
        socket_name: str) -> None:
    tasks, env, api, supervisor, _ = world
    proc = subprocess.Popen([sys.executable, "-m", "claude_orchestrator", "batch", str(tasks),
                             "--parallel", "2"], env=env, text=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    most: list[int] = []
    watcher = None
    try:
        while proc.poll() is None:
            most.append(len(sessions(socket_name)))
            if watcher is None and Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"]).exists():
                watcher = Watcher(env)
            time.sleep(0.2)
        out, err = proc.communicate(timeout=30)
        drawn = watcher.text() if watcher else ""
        watched = watcher.quit() if watcher else None
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert max(most) <= 2  # at most N Claudes at once
    with RunLog(Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])) as log:
        runs = log.list_runs()
        turns = {r.id: log.turns(r.id) for r in runs}
    assert len(runs) == 3 and len({r.batch_id for r in runs}) == 1
    assert all(r.status == "complete" and r.batch_id for r in runs)
    assert overlap([(r.started_at.timestamp(), r.ended_at.timestamp()) for r in runs
                    if r.ended_at]) == 2
    repo = tasks.parent / "proj"
    branches = set(_git(repo, "branch", "--list", "orchestrator/*", "--format",
                        "%(refname:short)").split())
    assert branches == {f"orchestrator/{r.id}" for r in runs}
    for run in runs:
        name = next(n for n in NAMES if f"Task {n}" in run.task)
        made = sorted(p.name for p in Path(run.workdir).iterdir() if p.name != ".git")
        assert made == ["README", f"{name}.txt"]  # its own file only, in its own worktree
        assert [t.message for t in turns[run.id]] == [f"create the file {name}.txt"]
        assert run.branch in out and name in out
    assert sorted(p.name for p in repo.iterdir()) == [".git", "README"]  # checkout untouched
    prompts = [r.last_user_text for r in api.requests if r.last_user_text.startswith("create")]
    assert sorted(set(prompts)) == [f"create the file {n}.txt" for n in NAMES]
    assert "complete" in out and KEY not in out + err
    assert len(supervisor.requests) == 6  # two calls per run: the message, then done
    show = run_cli(["show", runs[0].id], env).stdout
    assert f"branch:        {runs[0].branch}" in show and runs[0].batch_id in show
    assert watched == 0
    assert any(n in drawn for n in ("Task alpha", "Task beta", "Task gamma")), drawn[-2000:]
    assert re.search(r"working|supervisor|starting|complete", drawn), drawn[-2000:]
    assert not sessions(socket_name)  # every Claude ended with its run


def test_sigterm_stops_every_run_resumably_and_resume_finishes_them(
        world: tuple[Path, dict[str, str], FakeAnthropic, FakeOpenAI, Claude],
        socket_name: str) -> None:
    tasks, env, api, supervisor, claude = world
    claude.hold = 120.0  # the first turns run until the batch is stopped
    runlog = Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])
    proc = subprocess.Popen([sys.executable, "-m", "claude_orchestrator", "batch", str(tasks),
                             "--parallel", "2"], env=env, text=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        def two_at_work() -> bool:
            """Both first messages reached the API (held there): Claude works on them. (The
            run log says `sent` before a message is delivered: a stop then is another story,
            told to the supervisor as a reply lost.)"""
            return len({r.last_user_text for r in api.requests
                        if r.last_user_text.startswith("create")}) == 2
        assert wait_until(two_at_work, 120, 0.3)
        watcher = Watcher(env)
        assert wait_until(lambda: "Task" in watcher.text() and "working" in watcher.text(), 30)
        assert watcher.quit() == 0
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert len(supervisor.requests) == 2  # the queued run never started
    with RunLog(runlog) as log:
        runs = log.list_runs()
    batch = runs[0].batch_id
    assert batch and f"batch --resume {batch}" in err
    assert sorted(r.status for r in runs) == ["interrupted", "interrupted", "queued"]
    assert not sessions(socket_name)
    claude.hold = 0.0
    again = run_cli(["batch", "--resume", batch, "--parallel", "2"], env, timeout=300)
    assert again.returncode == 0, again.stderr
    with RunLog(runlog) as log:
        runs = log.batch_runs(batch)
        turns = {r.id: log.turns(r.id) for r in runs}
    assert [r.status for r in runs] == ["complete"] * 3
    for run in runs:
        name = next(n for n in NAMES if f"Task {n}" in run.task)
        # Each message went to Claude once: the stopped turn is not sent again on resume.
        assert [t.message for t in turns[run.id]] == [f"create the file {name}.txt"]
    sent = [r.last_user_text for r in api.requests if not r.tool_results]
    for n in NAMES:
        assert sent.count(f"create the file {n}.txt") == 1, sent
    assert "Task alpha" in again.stdout and "complete" in again.stdout
    assert len(supervisor.requests) == 6  # the stopped two: told the reply was lost, done
    finished = run_cli(["batch", "--resume", batch], env, timeout=60)
    assert finished.returncode == 0 and "0 run(s) to go" in finished.stderr


def test_tasks_from_stdin_in_a_plain_folder_one_at_a_time(
        world: tuple[Path, dict[str, str], FakeAnthropic, FakeOpenAI, Claude],
        socket_name: str, tmp_path: Path) -> None:
    """`-` reads one task per line; a folder outside git is worked in place (no branch)."""
    _, env, _, _, _ = world
    plain = tmp_path / "plain"
    plain.mkdir()
    proc = run_cli(["batch", "-", "--parallel", "1", "--workdir", str(plain), "--json"], env,
                   input="Task alpha: make alpha.txt\n\nTask beta: make beta.txt\n",
                   timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert [r["status"] for r in summary["runs"]] == ["complete", "complete"]
    assert [r["branch"] for r in summary["runs"]] == [None, None]
    assert sorted(p.name for p in plain.iterdir()) == ["alpha.txt", "beta.txt"]
    with RunLog(Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])) as log:
        first, second = log.batch_runs(summary["batch"])
    assert first.ended_at and second.started_at >= first.ended_at  # one at a time
    assert "both work in" in proc.stderr  # told they share a folder


def test_the_morning_after_show_review_merge_and_clean(
        world: tuple[Path, dict[str, str], FakeAnthropic, FakeOpenAI, Claude],
        tmp_path: Path) -> None:
    """A batch on a repository with an uncommitted edit: each run's Bash-written file is a
    commit on its branch (as the person), `show` names the command and the file, `review`
    prints the diff, `merge` is refused on the dirty checkout and then brings the commit in,
    `clean` removes worktrees and branches; the person's edit is never touched."""
    tasks, env, _, _, _ = world
    repo = tasks.parent / "proj"
    _git(repo, "config", "user.name", "A Person")
    _git(repo, "config", "user.email", "person@example.com")
    (repo / "README").write_text("project, edited by the person\n")
    done = run_cli(["batch", str(tasks), "--parallel", "3", "--json"], env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "1 uncommitted change(s): they are not carried over" in done.stderr
    runs = {r["task"].split(":")[0].split()[-1]: r for r in json.loads(done.stdout)["runs"]}
    alpha = runs["alpha"]
    assert alpha["files_changed"] == 1
    assert _git(repo, "log", "-1", "--format=%an|%s", alpha["branch"]) == (
        "A Person|Task alpha: make alpha.txt")
    assert _git(repo, "show", f"{alpha['branch']}:alpha.txt") == "alpha"
    shown = run_cli(["show", alpha["run"]], env).stdout
    assert "Claude ran: $ echo alpha > alpha.txt" in shown, shown
    assert "alpha.txt | 1 +" in shown  # the branch's diffstat
    review = run_cli(["review", alpha["run"][-4:]], env)
    assert review.returncode == 0, review.stderr
    assert "+alpha" in review.stdout and "alpha.txt" in review.stdout
    refused = run_cli(["merge", alpha["run"]], env)
    assert refused.returncode == 2 and "uncommitted changes" in refused.stderr
    assert (repo / "README").read_text() == "project, edited by the person\n"
    assert not (repo / "alpha.txt").exists()
    _git(repo, "commit", "-qam", "the person's edit")
    merged = run_cli(["merge", alpha["run"]], env)
    assert merged.returncode == 0, merged.stderr
    assert "merged with a merge commit on main" in merged.stdout
    assert (repo / "alpha.txt").read_text() == "alpha\n"
    assert (repo / "README").read_text() == "project, edited by the person\n"
    cleaned = run_cli(["clean", "--merged"], env)
    assert cleaned.returncode == 0, cleaned.stderr
    assert f"{alpha['run']}: removed its worktree and branch" in cleaned.stdout
    assert not Path(alpha["workdir"]).exists()
    rest = run_cli(["clean", "--batch", json.loads(done.stdout)["batch"]], env)
    assert rest.returncode == 0, rest.stderr
    assert rest.stdout.count("not merged: git branch orchestrator/") == 2
    assert _git(repo, "branch", "--list", "orchestrator/*") == ""
    assert _git(repo, "status", "--porcelain") == ""
    listed = json.loads(run_cli(["runs", "--json"], env).stdout)
    assert {r["id"] for r in listed} == {r["run"] for r in runs.values()}
    assert all(not r["worktree"] for r in listed)
