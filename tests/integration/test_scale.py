"""`batch --executor ray` against a real Ray head and the run log in a real PostgreSQL (one of
each per test session, on 127.0.0.1), with the real Claude Code on the fake Anthropic API and a
fake supervisor: runs as Ray jobs two at a time, every record in PostgreSQL and none in a
SQLite file, the key never in a job; SIGTERM stops the jobs and leaves every run resumable,
and `batch --resume` finishes them without sending a message twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from claude_orchestrator.runlog import RunLog
from tests.fakes.claude_env import claude_env, prepare_home
from tests.fakes.fake_anthropic import FakeAnthropic
from tests.fakes.fake_openai import FakeOpenAI
from tests.integration.conftest import run_cli, wait_until
from tests.integration.servers import NODE_ANTHROPIC_KEY, Postgres, RayHead
from tests.integration.test_batch import (
    NAMES,
    Claude,
    Watcher,
    _git,
    overlap,
    sessions,
    supervisor_says,
)

pytestmark = [pytest.mark.realcli, pytest.mark.scale]

KEY = "sk-or-v1-RAY-5ecr3t-0a1b2c3d4e5f6a7b8c9d0e1f"
# What every job gets from the batch's environment (none a secret): the runtime folder on this
# one machine, the fake API's address, the offline switches. Not HOME: a job's is its node's
# (Ray's workers find their auth token there), and Claude's settings are in the node's HOME.
FORWARD = ("PATH", "XDG_RUNTIME_DIR", "ANTHROPIC_BASE_URL", "IS_SANDBOX",
           "DISABLE_AUTOUPDATER", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
           "CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY")


@dataclass
class World:
    tasks: Path
    env: dict[str, str]
    api: FakeAnthropic
    supervisor: FakeOpenAI
    claude: Claude
    runlog: str
    head: RayHead

    def batch(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "claude_orchestrator", "batch", *args]

    def client(self) -> object:
        from ray.job_submission import JobSubmissionClient

        token = self.head.token_file.read_text().strip()
        return JobSubmissionClient(self.head.address,
                                   headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def world(tmp_path: Path, socket_name: str, cli_env: dict[str, str], postgres: Postgres,
          ray_head: RayHead) -> Iterator[World]:
    repo = tmp_path / "proj"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "README").write_text("project\n")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    tasks = tmp_path / "tasks.toml"
    tasks.write_text("max_iterations = 4\n" + "".join(
        f'\n[[task]]\ntask = "Task {n}: make {n}.txt"\nworkdir = "proj"\n' for n in NAMES))
    key_file = tmp_path / "openrouter.key"  # "mounted on every node": the same file here
    key_file.write_text(KEY)
    key_file.chmod(0o600)
    claude = Claude()
    runlog = postgres.new_database()
    with FakeAnthropic(claude) as api, FakeOpenAI(supervisor_says) as supervisor:
        node_home = prepare_home(ray_head.home, NODE_ANTHROPIC_KEY)  # Claude's, on the node
        env = claude_env(node_home, api.base_url, NODE_ANTHROPIC_KEY, base=cli_env)
        env["HOME"] = str(tmp_path / "home")  # the person's, who starts the batch
        Path(env["HOME"]).mkdir()
        del env["ANTHROPIC_API_KEY"]  # Claude's key is the node's (the Ray head holds it)
        env.update(OPENROUTER_API_KEY=KEY, OPENROUTER_API_KEY_FILE=str(key_file),
                   OPENROUTER_BASE_URL=supervisor.base_url, CLAUDE_TMUX_SOCKET=socket_name,
                   CLAUDE_ORCHESTRATOR_RUNLOG=runlog,
                   CLAUDE_ORCHESTRATOR_EXECUTOR="ray",
                   CLAUDE_ORCHESTRATOR_RAY_ADDRESS=ray_head.address,
                   CLAUDE_ORCHESTRATOR_RAY_ENV=",".join(FORWARD),
                   RAY_AUTH_TOKEN_PATH=str(ray_head.token_file))
        yield World(tasks, env, api, supervisor, claude, runlog, ray_head)


def in_flight(api: FakeAnthropic) -> list[tuple[float, float]]:
    """Each conversation request to Claude's API, from its arrival to its last byte."""
    return [(r.received_at, r.finished_at or time.monotonic()) for r in api.requests]


def no_sqlite_file(*folders: Path) -> list[Path]:
    return [p for f in folders for p in f.rglob("*.sqlite3*")]


def test_three_tasks_run_as_ray_jobs_two_at_once_recorded_in_postgresql(
        world: World, tmp_path: Path, socket_name: str) -> None:
    world.claude.hold = 6.0  # each first answer takes a while: two runs' requests overlap
    done = subprocess.run(world.batch(str(world.tasks), "--parallel", "2", "--json"),
                          env=world.env, capture_output=True, text=True, timeout=240,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert "runs go to the Ray cluster" in done.stderr and KEY not in done.stdout + done.stderr
    most = overlap(in_flight(world.api))
    assert most == 2, most  # at most 2 Claude requests in flight, and 2 at some moment
    with RunLog(world.runlog, readonly=True) as log:
        runs = log.list_runs()
    assert len(runs) == 3 and {r.status for r in runs} == {"complete"}
    assert {r.job_id for r in runs} == {r.id for r in runs}  # submission id = run id
    client = world.client()
    for run in runs:
        info = client.get_job_info(run.job_id)  # type: ignore[attr-defined]
        assert info.status == "SUCCEEDED", info.message
        assert info.metadata == {"claude_orchestrator_run": run.id}
        assert KEY not in json.dumps(info.runtime_env) + info.entrypoint  # never in a job
        assert "OPENROUTER_API_KEY" not in json.dumps(info.runtime_env)
        name = next(n for n in NAMES if f"Task {n}" in run.task)
        assert _git(Path(run.repo or ""), "show", f"{run.branch}:{name}.txt") == name
    listed = run_cli(["runs", "--json"], world.env)
    assert listed.returncode == 0, listed.stderr
    assert {r["id"]: r["job_id"] for r in json.loads(listed.stdout)} == {
        r.id: r.id for r in runs}
    assert no_sqlite_file(tmp_path, Path(world.env["HOME"])) == []
    assert not sessions(socket_name)  # every run ended its own tmux


def test_runs_on_nodes_clone_the_remote_and_push_their_branches_back(
        world: World, tmp_path: Path, socket_name: str) -> None:
    """`--git-remote origin`: each job clones the remote (a node needs no copy of the
    repository), commits there and pushes orchestrator/RUN_ID back; the person's repository
    gets no worktree and no branch until `review` fetches one, and no clone is left behind."""
    repo, remote = tmp_path / "proj", tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    _git(repo, "remote", "add", "origin", str(remote))
    _git(repo, "push", "-q", "origin", "main")
    done = subprocess.run(world.batch(str(world.tasks), "--parallel", "2", "--git-remote",
                                      "origin"), env=world.env, capture_output=True, text=True,
                          timeout=240, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert f"clone {remote} and push their branches" in done.stderr
    with RunLog(world.runlog, readonly=True) as log:
        runs = log.list_runs()
    assert len(runs) == 3 and {r.status for r in runs} == {"complete"}
    pushed = _git(remote, "for-each-ref", "--format=%(refname:short)", "refs/heads").split()
    assert sorted(pushed) == sorted(["main", *(r.branch or "" for r in runs)])
    for run in runs:
        name = next(n for n in NAMES if f"Task {n}" in run.task)
        assert _git(remote, "show", f"{run.branch}:{name}.txt") == name
        assert run.git_remote == str(remote) and run.files_changed == 1
        assert "/worktrees/proj-" in run.workdir and not Path(run.workdir).exists()
    assert _git(repo, "worktree", "list").count("\n") == 0
    assert _git(repo, "branch", "--list", "orchestrator/*") == ""
    first = runs[0]
    shown = run_cli(["review", first.id], world.env)
    assert shown.returncode == 0, shown.stderr
    assert f"{first.branch} against" in shown.stdout and ".txt" in shown.stdout
    assert _git(repo, "branch", "--list", "orchestrator/*").strip("* ") == first.branch
    assert not sessions(socket_name)


def test_sigterm_stops_the_jobs_and_resume_sends_no_message_twice(
        world: World, tmp_path: Path, socket_name: str) -> None:
    world.claude.hold = 300.0  # the first turns run until the batch is stopped
    proc = subprocess.Popen(world.batch(str(world.tasks), "--parallel", "2"), env=world.env,
                            text=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        def two_at_work() -> bool:
            return len({r.last_user_text for r in world.api.requests
                        if r.last_user_text.startswith("create")}) == 2
        assert wait_until(two_at_work, 180, 0.3)
        watcher = Watcher(world.env)  # runs --watch, reading PostgreSQL
        assert wait_until(lambda: "attach" in watcher.text() and "working" in watcher.text(),
                          30), watcher.text()[-2000:]
        drawn = watcher.text()
        assert watcher.quit() == 0
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    with RunLog(world.runlog, readonly=True) as log:
        runs = log.list_runs()
    batch = runs[0].batch_id
    assert batch and f"batch --resume {batch}" in err
    assert sorted(r.status for r in runs) == ["interrupted", "interrupted", "queued"]
    stopped = [r for r in runs if r.status == "interrupted"]
    client = world.client()
    for run in stopped:
        assert client.get_job_info(run.job_id).status == "STOPPED"  # type: ignore[attr-defined]
        assert run.job_id in drawn and os.uname().nodename in drawn  # node and job shown
    assert not sessions(socket_name)  # each stopped run ended its own tmux
    world.claude.hold = 0.0
    again = run_cli(["batch", "--resume", batch, "--parallel", "2"], world.env, timeout=600)
    assert again.returncode == 0, again.stderr
    with RunLog(world.runlog, readonly=True) as log:
        runs = log.batch_runs(batch)
        turns = {r.id: log.turns(r.id) for r in runs}
    assert [r.status for r in runs] == ["complete"] * 3
    assert sorted(r.job_id or "" for r in runs if r.id in {s.id for s in stopped}) == sorted(
        f"{s.id}.2" for s in stopped)  # a new attempt, never the same job twice
    for run in runs:
        name = next(n for n in NAMES if f"Task {n}" in run.task)
        assert [t.message for t in turns[run.id]] == [f"create the file {name}.txt"]
    sent = [r.last_user_text for r in world.api.requests if not r.tool_results]
    for n in NAMES:
        assert sent.count(f"create the file {n}.txt") == 1, sent  # exactly once each
    assert no_sqlite_file(tmp_path, Path(world.env["HOME"])) == []
    assert not sessions(socket_name)


def test_the_key_is_refused_in_a_jobs_environment(world: World) -> None:
    """Asked to forward the supervisor's key (or anything named like a secret) into the jobs'
    runtime_env: one line, exit 2, saying how the nodes get it instead; nothing queued."""
    for name in ("OPENROUTER_API_KEY", "ANTHROPIC_API_KEY", "GITHUB_TOKEN"):
        env = dict(world.env, CLAUDE_ORCHESTRATOR_RAY_ENV=f"PATH,{name}", GITHUB_TOKEN="t")
        refused = run_cli(["batch", str(world.tasks)], env)
        assert refused.returncode == 2, refused.stderr
        assert f"refusing to put {name} into the Ray jobs' runtime_env" in refused.stderr
        assert "docs/scale.md" in refused.stderr and KEY not in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 2  # the key note, then the line
    with RunLog(world.runlog) as log:
        assert log.list_runs() == []


def test_without_the_extras_it_says_how_to_install_them(world: World) -> None:
    """Ray or psycopg missing: one line and exit 2 with the install command."""
    def without(module: str, *args: str) -> subprocess.CompletedProcess[str]:
        code = (f"import sys; sys.modules[{module!r}] = None\n"
                "from claude_orchestrator.cli import main; sys.exit(main(sys.argv[1:]))")
        return subprocess.run([sys.executable, "-c", code, *args], env=world.env,
                              capture_output=True, text=True, timeout=120)

    no_ray = without("ray", "batch", str(world.tasks))
    assert no_ray.returncode == 2
    assert no_ray.stderr.strip().splitlines()[-1].endswith(
        "--executor ray needs Ray: pip install 'claude-orchestrator[ray]'")
    no_pg = without("psycopg", "runs")
    assert no_pg.returncode == 2 and len(no_pg.stderr.strip().splitlines()) == 1
    assert "pip install 'claude-orchestrator[postgres]'" in no_pg.stderr
