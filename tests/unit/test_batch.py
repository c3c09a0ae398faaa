"""A batch's parts without tmux: its tasks file, the settings each run gets, git worktrees,
the scheduling (at most N at once, all stopped on Ctrl-C), and the exit status."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator.batch.command import _as_flags, batch_main
from claude_orchestrator.batch.runner import Batch, exit_status, queue_batch, task_config
from claude_orchestrator.batch.tasks import (
    BatchTask,
    file_commands,
    load_tasks,
    parse_lines,
    parse_toml,
)
from claude_orchestrator.drivers.work import commit_work, ensure_worktree
from claude_orchestrator.errors import Terminated, UsageError
from claude_orchestrator.runlog import RunLog
from claude_orchestrator.runlog.log import RunRecord

ENV = {"OPENROUTER_API_KEY": "sk-or-v1-test-0123456789abcdef", "PATH": "/usr/bin:/bin"}


def test_toml_tasks_top_level_and_paths(tmp_path: Path) -> None:
    (tmp_path / "docs.md").write_text("Write the docs\n\nin detail\n")
    (tmp_path / "proj").mkdir()
    top, tasks = parse_toml("""
max_cost = 5
model = "m/top"

[[task]]
task = "  Add a --verbose flag  "
workdir = "proj"
verify = "pytest -q"
max-time = "2h"

[[task]]
task_file = "docs.md"
agent = "claude"
stuck_after = 4
terminate_when_quit = false
""", tmp_path)
    assert top == {"max_cost": 5, "model": "m/top"}
    first, second = tasks
    assert (first.number, first.task, first.workdir) == (1, "Add a --verbose flag",
                                                          tmp_path / "proj")
    assert first.settings == {"verify": "pytest -q", "max_time": "2h"}
    assert second.task == "Write the docs\n\nin detail" and second.workdir is None
    assert second.settings == {"agent": "claude", "stuck_after": 4,
                               "terminate_when_quit": False}


@pytest.mark.parametrize("text, message", [
    ("[[task]]\ntask = 'x'\nsession = 'mine'", "decided by the batch"),
    ("[[task]]\ntask = 'x'\nmax_costs = 1", "unknown key `max_costs`"),
    ("[[task]]\ntask = 'x'\ntask_file = 'y'", "exactly one of"),
    ("[[task]]\nverify = 'make'", "exactly one of"),
    ("[[task]]\ntask = '   '", "the task is empty"),
    ("[[task]]\ntask_file = 'nope.md'", "cannot read task_file"),
    ("[[task]]\ntask = 'x'\nworkdir = 3", "workdir must be a folder"),
    ("[[task]]\ntask = 'x'\nverify = ['a']", "must be a string"),
    ("task = 'x'", "tasks are [[task]] tables"),
    ("model = 'x'", "has no [[task]] table"),
    ("[[task]\n", "not valid TOML"),
    ("socket = 's'\n[[task]]\ntask = 'x'", "top level"),
])
def test_toml_mistakes_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("]", r"\]")) as e:
        parse_toml(text, tmp_path, "tasks.toml")
    assert "\n" not in str(e.value).strip()


def test_stdin_lines_and_files(tmp_path: Path) -> None:
    assert [t.task for t in parse_lines("one\n\n  two  \n")] == ["one", "two"]
    with pytest.raises(UsageError, match="no task on stdin"):
        parse_lines(" \n")
    assert load_tasks("-", "a\nb")[1][1].number == 2
    with pytest.raises(UsageError, match="cannot read the tasks file"):
        load_tasks(str(tmp_path / "missing.toml"))
    (tmp_path / "t.toml").write_text("[[task]]\ntask='x'\nworkdir='.'\n")
    assert load_tasks(str(tmp_path / "t.toml"))[1][0].workdir == tmp_path.resolve() / "."


def test_settings_layering(tmp_path: Path) -> None:
    task = BatchTask(1, "do it", tmp_path, {"max_cost": 9})
    config = task_config(task, {"max_cost": 1, "model": "m/top", "max_iterations": 7},
                         {"model": "m/flag", "max_iterations": None}, ENV, None)
    assert (config.max_cost, config.model, config.max_iterations) == (9.0, "m/flag", 7)
    assert config.terminate_when_quit and config.autonomous and config.task == "do it"
    kept = task_config(task, {}, {}, {**ENV, "TERMINATE_WHEN_QUIT": "false"}, None)
    assert not kept.terminate_when_quit  # the environment's choice stands
    with pytest.raises(UsageError, match=r"^task 1: .*max"):
        task_config(BatchTask(1, "x", tmp_path, {"max_cost": "lots"}), {}, {}, ENV, None)
    with pytest.raises(UsageError, match="task 2: working directory does not exist"):
        task_config(BatchTask(2, "x", tmp_path / "gone"), {}, {}, ENV, None)
    assert _as_flags({"max_cost": 2.5, "resume_on_crash": False, "verify": "make check"}) == [
        "--max-cost", "2.5", "--no-resume-on-crash", "--verify", "make check"]


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def _repo(path: Path, commit: bool = True) -> Path:
    path.mkdir(parents=True)
    _git(path, "init", "-q", "-b", "main")
    _git(path, "config", "user.name", "A Person")  # the person's identity for this repository
    _git(path, "config", "user.email", "person@example.com")
    if commit:
        (path / "sub").mkdir()
        (path / "sub" / "f.txt").write_text("x\n")
        _git(path, "add", ".")
        _git(path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    return path


def test_a_queued_run_gets_its_worktree_when_it_starts_and_its_work_committed_at_the_end(
        tmp_path: Path) -> None:
    """Queued: the branch and the base commit are recorded, no worktree yet (the person's
    uncommitted edit is named, never carried over or touched). Started: a worktree of its own
    on orchestrator/RUN_ID from that commit, in the same place inside the repository. Ended:
    what Claude left there is one commit on the branch, as the person; nothing when nothing
    changed; a commit Claude made itself kept as it is."""
    repo = _repo(tmp_path / "proj")
    (repo / "sub" / "f.txt").write_text("the person's own edit\n")
    base = _git(repo, "rev-parse", "HEAD")
    configs = [task_config(BatchTask(n, f"task {n}\nmore words", repo / "sub"), {}, {}, ENV,
                           None) for n in (1, 2)]
    notes: list[str] = []
    with RunLog(tmp_path / "runs.sqlite3") as log:
        first, second = queue_batch(log, "batch-x", configs, notes.append)
        assert first.branch == f"orchestrator/{first.id}" and not first.worktree
        assert first.base_commit == base and first.repo == str(repo)
        assert notes == [f"{repo} has 1 uncommitted change(s): they are not carried over, each "
                         f"run starts from {base[:12]} (your checkout is never touched)"]
        assert not list((tmp_path / "worktrees").glob("*"))  # nothing made before a start
        started = ensure_worktree(log, first)
        tree = Path(started.workdir)
        assert started.worktree and tree.name == "sub" and tree.parent.parent == (
            tmp_path / "worktrees")
        assert (tree / "f.txt").read_text() == "x\n"  # from the commit, not the person's edit
        assert _git(tree, "rev-parse", "--abbrev-ref", "HEAD") == first.branch
        assert ensure_worktree(log, started) == started  # made once
        (tree / "new.txt").write_text("by Claude\n")
        said = commit_work(log, first.id, "complete", "task complete")
        assert said is not None and said.startswith(f"work committed on {first.branch}")
        assert _git(repo, "log", "-1", "--format=%s|%an", first.branch) == "task 1|A Person"
        assert _git(repo, "diff", "--name-only", f"{base}..{first.branch}") == "sub/new.txt"
        assert log.get_run(first.id).files_changed == 1
        assert commit_work(log, first.id, "complete", "again").startswith(  # type: ignore[union-attr]
            "nothing new to commit")
        other = ensure_worktree(log, second)
        _git(Path(other.workdir), "-c", "user.name=c", "-c", "user.email=c@c", "commit", "-q",
             "--allow-empty", "-m", "Claude's own")
        assert commit_work(log, second.id, "failed", "x").startswith("nothing new")  # type: ignore[union-attr]
        assert _git(repo, "log", "-1", "--format=%s", second.branch or "") == "Claude's own"
    assert _git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"  # the person's untouched
    assert (repo / "sub" / "f.txt").read_text() == "the person's own edit\n"
    assert _git(repo, "diff", "--cached", "--name-only") == ""


def test_a_repository_without_a_commit_cannot_be_queued(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "empty", commit=False)
    config = task_config(BatchTask(1, "t", repo), {}, {}, ENV, None)
    with RunLog(tmp_path / "runs.sqlite3") as log, pytest.raises(UsageError,
                                                                   match="without a commit"):
        queue_batch(log, "b", [config], lambda _: None)


def test_queue_records_every_task_with_its_branch(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "proj")
    plain = tmp_path / "plain"
    plain.mkdir()
    configs = [task_config(BatchTask(n, f"task {n}", folder), {}, {}, ENV, None)
               for n, folder in enumerate((repo, plain, plain), 1)]
    notes: list[str] = []
    with RunLog(tmp_path / "runs.sqlite3") as log:
        runs = queue_batch(log, "batch-x", configs, notes.append)
        assert [r.status for r in runs] == ["queued"] * 3
        assert [r.id for r in log.batch_runs("batch-x")] == [r.id for r in runs]
    first, second, _ = runs
    assert first.branch == f"orchestrator/{first.id}" and first.workdir == str(repo)
    assert second.branch is None
    assert second.workdir == str(plain) and first.session == f"co-{first.id}"
    assert {r.socket for r in runs} == {configs[0].socket}
    assert first.settings["terminate_when_quit"] is True
    assert notes == [f"tasks 2 and 3 both work in {plain} (not a git repository): they may "
                     "disturb each other"]


class FakeHandle:
    def __init__(self, run_id: str, log: list[str]) -> None:
        self.run_id = run_id
        self.code: int | None = None
        self.log = log

    def poll(self) -> int | None:
        return self.code

    def stop(self) -> None:
        self.log.append(f"stop {self.run_id}")
        self.code = 143

    def kill(self) -> None:
        self.log.append(f"kill {self.run_id}")


class FakeExecutor:
    """Runs end in the order the test says; records how many ran at once."""

    def __init__(self, interrupt_after: int | None = None) -> None:
        self.running: list[FakeHandle] = []
        self.events: list[str] = []
        self.most = 0
        self.interrupt_after = interrupt_after

    def start(self, run_id: str, args: Sequence[str] = ()) -> FakeHandle:
        handle = FakeHandle(run_id, self.events)
        self.running.append(handle)
        self.events.append(f"start {run_id} {' '.join(args)}".strip())
        self.most = max(self.most, sum(h.code is None for h in self.running))
        return handle

    def wait(self, handles: Sequence[Any], timeout: float) -> list[Any]:
        if self.interrupt_after is not None and len(self.events) >= self.interrupt_after:
            self.interrupt_after = None  # like the signal: once
            raise Terminated
        live = [h for h in handles if h.code is None]
        if live:
            live[0].code = 0  # the oldest ends first
        return [h for h in handles if h.code is not None]


def _queued(log: RunLog, n: int) -> list[str]:
    ids = []
    for i in range(n):
        run = log.start_run(mode="autonomous", task=f"t{i}", workdir="/w", model="m",
                            session=f"s{i}", socket="x", settings={}, queued=True)
        ids.append(run.id)
    return ids


def test_at_most_n_at_once_then_all(tmp_path: Path) -> None:
    with RunLog(tmp_path / "runs.sqlite3") as log:
        ids = _queued(log, 5)
        notes: list[str] = []
        ex = FakeExecutor()
        Batch(log, ex, 2, notes.append, ["--max-cost", "3"]).run(ids, {r: n for n, r in
                                                                     enumerate(ids, 1)})
    assert ex.most == 2 and [e for e in ex.events if e.startswith("start")] == [
        f"start {r} --max-cost 3" for r in ids]
    assert sum("started" in n for n in notes) == 5 and "(5/5: t4)" in notes[-3]
    assert notes[-1] == f"{ids[-1]} did not start (exit status 0)"  # still queued: no resume


def test_a_stop_reaches_every_running_run(tmp_path: Path) -> None:
    with RunLog(tmp_path / "runs.sqlite3") as log:
        ids = _queued(log, 4)
        ex = FakeExecutor(interrupt_after=3)
        batch = Batch(log, ex, 3, lambda _: None)
        with pytest.raises(Terminated):
            batch.run(ids, {r: n for n, r in enumerate(ids, 1)})
    assert ex.events == [f"start {ids[0]}", f"start {ids[1]}", f"start {ids[2]}",
                         f"stop {ids[0]}", f"stop {ids[1]}", f"stop {ids[2]}"]
    assert not batch.active


def _record(status: str, code: int | None) -> RunRecord:
    from datetime import datetime

    return RunRecord(id="r", mode="autonomous", task="t", workdir="/w", model=None,
                     session=None, socket=None, agent_session_id=None, settings={},
                     status=status, exit_code=code, message=None,
                     started_at=datetime.now(UTC), ended_at=None, pid=1, host="h",
                     turns=0, prompt_tokens=0, completion_tokens=0, cost_usd=0.0)


def test_exit_status_is_the_worst_runs() -> None:
    assert exit_status([_record("complete", 0)] * 2) == 0
    assert exit_status([_record("complete", 0), _record("budget", 3), _record("stuck", 6)]) == 6
    assert exit_status([_record("interrupted", 143), _record("failed", 1)]) == 1
    assert exit_status([_record("budget", 3), _record("interrupted", 130)]) == 3
    assert exit_status([_record("queued", None)]) == 1
    assert exit_status([_record("interrupted", None)]) == 143


def test_command_line_mistakes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UsageError, match="give TASKS"):
        batch_main([], ENV)
    with pytest.raises(UsageError, match="give TASKS"):
        batch_main(["t.toml", "--resume", "b"], ENV)
    with pytest.raises(UsageError, match="--session and --chat do not apply"):
        batch_main(["t.toml", "--chat"], ENV)
    with pytest.raises(UsageError, match="--session and --chat do not apply"):
        batch_main(["t.toml", "--session", "mine"], ENV)
    with pytest.raises(UsageError, match="--parallel must be 1 or more"):
        batch_main(["t.toml", "--parallel", "0"], ENV)
    tasks = tmp_path / "t.toml"
    tasks.write_text("[[task]]\ntask = 'x'\n")
    env = {**ENV, "CLAUDE_ORCHESTRATOR_RUNLOG": str(tmp_path / "runs.sqlite3"),
           "PATH": str(tmp_path)}
    with pytest.raises(UsageError, match="tmux not found"):
        batch_main([str(tasks), "--workdir", str(tmp_path)], env)
    assert not (tmp_path / "runs.sqlite3").exists()  # nothing queued before the checks pass



# ----------------------------------------------------------------------------- issue 17
@pytest.mark.parametrize("key", ["base_url", "base-url", "api_key_file"])
def test_a_tasks_file_never_directs_the_key(tmp_path: Path, key: str) -> None:
    for text in (f"{key} = 'http://collector.example/v1'\n[[task]]\ntask = 'x'\n",
                 f"[[task]]\ntask = 'x'\n{key} = 'http://collector.example/v1'\n"):
        with pytest.raises(UsageError, match=f"`{key}` is refused"):
            parse_toml(text, tmp_path, "tasks.toml")


def test_commands_in_a_cloned_tasks_file_need_confirming(tmp_path: Path) -> None:
    repo = tmp_path / "clone"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    tasks = repo / "tasks.toml"
    tasks.write_text("claude_cmd = 'sh -c evil'\n[[task]]\ntask = 'x'\nverify = 'make'\n")
    with pytest.raises(UsageError, match="--trust-tasks-file"):
        load_tasks(str(tasks))
    top, found = load_tasks(str(tasks), confirmed=True)
    assert file_commands(top, found) == ["claude_cmd 'sh -c evil' (top level)",
                                         "verify 'make' (task 1)"]
    mine = tmp_path / "mine.toml"  # outside any work tree: the person's own
    mine.write_text("[[task]]\ntask = 'x'\nverify = 'pytest -q'\n")
    assert load_tasks(str(mine))[1][0].settings == {"verify": "pytest -q"}


def test_a_tasks_file_of_another_user_or_open_to_writes_is_refused(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.toml"
    tasks.write_text("[[task]]\ntask = 'x'\n")
    tasks.chmod(0o666)
    with pytest.raises(UsageError, match="others may write"):
        load_tasks(str(tasks))
    tasks.chmod(0o644)
    link = tmp_path / "link.toml"
    link.symlink_to(tasks)
    with pytest.raises(UsageError, match="is a link"):
        load_tasks(str(link))
    if os.getuid() == 0:  # giving a file away needs root (CI runs as root)
        os.chown(tasks, 65534, -1)
        with pytest.raises(UsageError, match="belongs to uid 65534"):
            load_tasks(str(tasks))


def test_a_task_file_must_be_a_regular_file_of_the_right_owner(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.md")
    with pytest.raises(UsageError, match="not a regular file"):
        parse_toml("[[task]]\ntask_file = 'fifo.md'\n", tmp_path)  # no hang
    (tmp_path / "real.md").write_text("the task\n")
    (tmp_path / "link.md").symlink_to(tmp_path / "real.md")
    with pytest.raises(UsageError, match="is a link"):
        parse_toml("[[task]]\ntask_file = 'link.md'\n", tmp_path)
    outside = tmp_path.parent / f"{tmp_path.name}-secret.md"
    outside.write_text("id_rsa\n")
    try:
        with pytest.raises(UsageError, match="outside the tasks file's folder"):
            parse_toml(f"[[task]]\ntask_file = '{outside}'\n", tmp_path, trusted=False)
        assert parse_toml(f"[[task]]\ntask_file = '{outside}'\n", tmp_path)[1][0].task == \
            "id_rsa"
        if os.getuid() == 0:
            os.chown(tmp_path / "real.md", 65534, -1)
            with pytest.raises(UsageError, match="run as root, a batch reads only root's"):
                parse_toml("[[task]]\ntask_file = 'real.md'\n", tmp_path)
    finally:
        outside.unlink()
