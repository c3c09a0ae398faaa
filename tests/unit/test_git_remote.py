"""`batch --git-remote`: a batch's runs clone a remote and push their branches back, so they can
work on machines without the person's repository; `review`, `merge` and `clean` fetch the
branch from there. Real git, a bare repository as the remote; no tmux, no agent."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from claude_orchestrator.batch.command import batch_main, batch_parser, git_remote_setting
from claude_orchestrator.batch.runner import queue_batch, task_config
from claude_orchestrator.batch.tasks import BatchTask, parse_toml
from claude_orchestrator.drivers.work import commit_work, ensure_worktree
from claude_orchestrator.errors import UsageError
from claude_orchestrator.review import clean, merge, review
from claude_orchestrator.runlog import RunLog, RunRecord
from claude_orchestrator.runtime.remote import delete_branch
from tests.unit.test_batch import ENV, _git, _repo


def _world(tmp_path: Path) -> tuple[Path, Path]:
    """The person's repository with `origin` a bare repository that has its main."""
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    repo = _repo(tmp_path / "proj")
    _git(repo, "remote", "add", "origin", str(remote))
    _git(repo, "push", "-q", "origin", "main")
    return repo, remote


def _queue(tmp_path: Path, repo: Path, log: RunLog, remote: str = "origin",
           n: int = 1) -> list[RunRecord]:
    configs = [task_config(BatchTask(i, f"task {i}", repo / "sub"), {}, {}, ENV, None)
               for i in range(1, n + 1)]
    return queue_batch(log, "batch-r", configs, lambda _m: None, remote)


def _pushed_run(tmp_path: Path, repo: Path, log: RunLog) -> RunRecord:
    """A run that wrote new.txt in its clone, pushed its branch and ended complete."""
    (run,) = _queue(tmp_path, repo, log)
    tree = Path(ensure_worktree(log, run).workdir)
    (tree / "new.txt").write_text("by Claude\n")
    commit_work(log, run.id, "complete", "done")
    log.finish_run(run.id, status="complete", exit_code=0, message="done")
    return log.get_run(run.id)


def _branches(remote: Path) -> list[str]:
    return _git(remote, "for-each-ref", "--format=%(refname:short)", "refs/heads").split()


def test_a_run_clones_the_remote_and_pushes_its_branch_back(tmp_path: Path) -> None:
    """Started: a clone of the remote on orchestrator/RUN_ID at the batch's commit, in the
    same place inside the repository; the person's repository gets no worktree and no branch.
    Ended: the work committed, the branch pushed, the clone removed. Resumed elsewhere (no
    clone left): cloned again from the pushed branch, in the same folder inside it."""
    repo, remote = _world(tmp_path)
    base = _git(repo, "rev-parse", "HEAD")
    with RunLog(tmp_path / "runs.sqlite3") as log:
        (run,) = _queue(tmp_path, repo, log)
        assert run.git_remote == str(remote) and run.base_commit == base
        started = ensure_worktree(log, run)
        tree = Path(started.workdir)
        assert tree.name == "sub" and tree.parent.parent == tmp_path / "worktrees"
        assert _git(tree, "rev-parse", "--abbrev-ref", "HEAD") == run.branch
        assert _git(tree, "rev-parse", "HEAD") == base
        assert _git(repo, "worktree", "list").count("\n") == 0  # the person's: untouched
        assert _git(repo, "branch", "--list", "orchestrator/*") == ""
        (tree / "new.txt").write_text("by Claude\n")
        said = commit_work(log, run.id, "interrupted", "stopped")
        assert said is not None and said.endswith(f"pushed to {remote}"), said
        assert not tree.exists()  # the branch has the work
        assert _branches(remote) == ["main", run.branch]
        assert _git(remote, "show", f"{run.branch}:sub/new.txt") == "by Claude"
        assert log.get_run(run.id).files_changed == 1
        again = ensure_worktree(log, log.get_run(run.id))  # resumed: clones the pushed branch
        assert again.workdir == started.workdir and (tree / "new.txt").exists()
        (tree / "more.txt").write_text("more\n")
        said = commit_work(log, run.id, "complete", "done")
        assert said is not None and "pushed" in said
        assert _git(remote, "rev-list", "--count", f"{base}..{run.branch}") == "2"


def test_review_merge_and_clean_fetch_the_branch_from_the_remote(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo, remote = _world(tmp_path)
    with RunLog(tmp_path / "runs.sqlite3") as log:
        run = _pushed_run(tmp_path, repo, log)
        assert review(run) == 0
        assert "+by Claude" in capsys.readouterr().out
        assert merge(run) == 0
        assert (repo / "sub" / "new.txt").read_text() == "by Claude\n"
        assert clean([run], log, only_merged=True) == 0
        assert "removed its worktree and branch" in capsys.readouterr().out
        assert _branches(remote) == ["main"]  # deleted there too
        assert _git(repo, "branch", "--list", "orchestrator/*") == ""


def test_a_push_that_fails_keeps_the_clone_and_says_where_the_work_is(tmp_path: Path) -> None:
    repo, remote = _world(tmp_path)
    with RunLog(tmp_path / "runs.sqlite3") as log:
        (run,) = _queue(tmp_path, repo, log)
        tree = Path(ensure_worktree(log, run).workdir)
        (tree / "new.txt").write_text("by Claude\n")
        hook = remote / "hooks" / "pre-receive"
        hook.write_text("#!/bin/sh\necho 'pushes are closed' >&2\nexit 1\n")
        hook.chmod(0o755)
        said = commit_work(log, run.id, "complete", "done")
        assert said is not None and "could not push it to" in said and str(tree.parent) in said
        assert (tree / "new.txt").exists()
        assert _branches(remote) == ["main"]
        assert ensure_worktree(log, log.get_run(run.id)).workdir == str(tree)  # kept, reused
        log.finish_run(run.id, status="complete", exit_code=0, message="done")
        with pytest.raises(UsageError, match="could not be fetched"):
            review(log.get_run(run.id))


def test_the_remote_is_checked_before_anything_is_queued(tmp_path: Path) -> None:
    """A commit the remote does not have, a remote that is neither a name nor a URL, one that
    does not answer, a token in its URL, a folder outside git: one line each, nothing queued."""
    repo, remote = _world(tmp_path)
    with RunLog(tmp_path / "runs.sqlite3") as log:
        (repo / "sub" / "g.txt").write_text("new\n")
        _git(repo, "add", ".")
        _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "local")
        head = _git(repo, "rev-parse", "HEAD")
        with pytest.raises(UsageError, match=rf"commit {head[:12]} .* is not on .*push it first "
                                             rf"\(git -C {repo} push origin HEAD\)"):
            _queue(tmp_path, repo, log)
        with pytest.raises(UsageError, match="'upstream' is no remote of"):
            _queue(tmp_path, repo, log, "upstream")
        with pytest.raises(UsageError, match="cannot read the git remote"):
            _queue(tmp_path, repo, log, str(tmp_path / "nowhere.git"))
        with pytest.raises(UsageError, match="a user or token in its URL") as token:
            _queue(tmp_path, repo, log, "https://ghp_t0ken@git.example/p.git")
        assert "ghp_t0ken" not in str(token.value)
        with pytest.raises(UsageError, match="cannot start with '-'"):
            _queue(tmp_path, repo, log, "--upload-pack=touch /tmp/x")
        outside = tmp_path / "plain"
        outside.mkdir()
        config = task_config(BatchTask(1, "x", outside), {}, {}, ENV, None)
        with pytest.raises(UsageError, match="task 1: --git-remote needs its folder in a git"):
            queue_batch(log, "batch-r", [config], lambda _m: None, "origin")
        assert log.list_runs() == []
        _git(repo, "push", "-q", "origin", "main")
        assert len(_queue(tmp_path, repo, log, str(remote), n=2)) == 2  # pushed; a path
        shutil.rmtree(remote)


def test_a_tasks_file_in_a_clone_names_no_remote_unconfirmed(tmp_path: Path) -> None:
    """`git_remote` in a tasks file would send the code where the file says: from a file in a
    git work tree, only with --trust-tasks-file; and only at the top."""
    with pytest.raises(UsageError, match="would send your tasks or code"):
        parse_toml('git_remote = "https://evil.example/x.git"\n[[task]]\ntask = "x"\n',
                   tmp_path, trusted=False)
    with pytest.raises(UsageError, match="put it at the top"):
        parse_toml('[[task]]\ntask = "x"\ngit_remote = "origin"\n', tmp_path, trusted=True)
    top, _ = parse_toml('git_remote = "origin"\n[[task]]\ntask = "x"\n', tmp_path,
                        trusted=True)
    assert top["git_remote"] == "origin"


def test_the_remote_comes_from_the_flag_then_the_file_then_the_environment() -> None:
    env = {"CLAUDE_ORCHESTRATOR_GIT_REMOTE": "from-env"}
    ns = batch_parser().parse_args(["t.toml"])
    assert git_remote_setting(ns, {}, {}) is None
    assert git_remote_setting(ns, {}, env) == "from-env"
    assert git_remote_setting(ns, {"git_remote": "from-file"}, env) == "from-file"
    flagged = batch_parser().parse_args(["t.toml", "--git-remote", "origin"])
    assert git_remote_setting(flagged, {"git_remote": "from-file"}, env) == "origin"
    with pytest.raises(UsageError, match="--git-remote does not apply to batch --resume"):
        batch_main(["--resume", "batch-x", "--git-remote", "origin"], ENV)


def _other_node_pushes(tmp_path: Path, remote: Path, branch: str, name: str) -> str:
    """Another attempt, elsewhere, pushes one more commit on the run's branch."""
    other = tmp_path / f"node-{name}"
    subprocess.run(["git", "clone", "-q", "-b", branch, str(remote), str(other)], check=True)
    (other / f"{name}.txt").write_text(name)
    _git(other, "add", ".")
    _git(other, "-c", "user.name=n", "-c", "user.email=n@n", "commit", "-qm", name)
    _git(other, "push", "-q", "origin", branch)
    return _git(other, "rev-parse", "HEAD")


def test_resumes_keep_every_commit_wherever_the_earlier_attempt_ran(tmp_path: Path) -> None:
    """A clone kept here (its agent was left running) catches up with what another node pushed
    since; one that went apart from it is refused, not overwritten; an earlier clone elsewhere
    that pushed nothing is said when this attempt starts again; Claude removing the task's own
    folder still gets its work committed and pushed."""
    repo, remote = _world(tmp_path)
    notes: list[str] = []
    with RunLog(tmp_path / "runs.sqlite3") as log:
        (run,) = _queue(tmp_path, repo, log)
        tree = Path(ensure_worktree(log, run).workdir)
        (tree / "a.txt").write_text("a\n")
        said = commit_work(log, run.id, "interrupted", "x", agent_left_running=True)
        assert said is not None and "the clone stays" in said and tree.exists()
        newer = _other_node_pushes(tmp_path, remote, run.branch or "", "b")
        again = ensure_worktree(log, log.get_run(run.id), notes.append)
        assert again.workdir == str(tree) and _git(tree, "rev-parse", "HEAD") == newer
        (tree / "c.txt").write_text("c\n")
        _git(tree, "add", ".")
        _git(tree, "-c", "user.name=n", "-c", "user.email=n@n", "commit", "-qm", "here")
        _other_node_pushes(tmp_path, remote, run.branch or "", "d")
        with pytest.raises(UsageError, match="went apart"):
            ensure_worktree(log, log.get_run(run.id))
        assert (tree / "c.txt").exists()  # nothing lost here
        shutil.rmtree(tree.parent)  # as if that clone were on another node, never pushed
        (second,) = _queue(tmp_path, repo, log)
        first_tree = Path(ensure_worktree(log, second).workdir)
        shutil.rmtree(first_tree.parent)
        ensure_worktree(log, log.get_run(second.id), notes.append)
        assert notes == [f"run {second.id}'s earlier clone ({first_tree} on "
                         f"{log.get_run(second.id).host}) pushed nothing to {remote}: this "
                         f"attempt starts again from {second.base_commit[:12]}"]  # type: ignore[index]
        shutil.rmtree(first_tree)  # Claude removed the task's own folder
        said = commit_work(log, second.id, "complete", "done")
        assert said is not None and said.endswith(f"pushed to {remote}"), said
        assert "sub/f.txt" in _git(remote, "show", "--stat", second.branch or "")


def test_review_and_clean_never_lose_a_commit_on_either_side(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The person's own commit on the run's branch is kept by `review` (said); `clean` never
    deletes a remote branch that has commits the local one lacked."""
    repo, remote = _world(tmp_path)
    with RunLog(tmp_path / "runs.sqlite3") as log:
        run = _pushed_run(tmp_path, repo, log)
        branch = run.branch or ""
        assert review(run) == 0
        _git(repo, "checkout", "-q", branch)
        (repo / "mine.txt").write_text("mine\n")
        _git(repo, "add", ".")
        _git(repo, "commit", "-qm", "mine")
        mine = _git(repo, "rev-parse", "HEAD")
        _git(repo, "checkout", "-q", "main")
        assert review(run) == 0
        assert "has commits" in capsys.readouterr().err
        assert _git(repo, "rev-parse", branch) == mine  # kept
        newer = _other_node_pushes(tmp_path, remote, branch, "late")  # both went on: apart
        assert clean([log.get_run(run.id)], log, only_merged=False) == 0
        out = capsys.readouterr().out
        assert f"(not merged: git branch {branch} {mine[:12]} brings it back)" in out
        assert f"{branch} on {remote} has commits yours lacked: left there" in out
        assert _git(remote, "rev-parse", branch) == newer  # nothing lost on either side


def test_a_remote_branch_is_deleted_only_while_it_is_what_was_fetched(tmp_path: Path) -> None:
    repo, remote = _world(tmp_path)
    _git(repo, "push", "-q", "origin", "main:orchestrator/x")
    seen = _git(remote, "rev-parse", "orchestrator/x")
    newer = _other_node_pushes(tmp_path, remote, "orchestrator/x", "late")
    assert "stale info" in delete_branch(repo, str(remote), "orchestrator/x", seen)
    assert _git(remote, "rev-parse", "orchestrator/x") == newer
    assert delete_branch(repo, str(remote), "orchestrator/x", newer) == ""
    assert _branches(remote) == ["main"]
