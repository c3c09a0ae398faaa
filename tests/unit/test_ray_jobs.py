"""The Ray executor's own logic against a fake Jobs API client (the real head is
tests/integration/test_scale.py's): what a job is submitted with, a job found again instead of
submitted twice, a lost job recorded as an interrupted run, how a status maps to an outcome,
and the secrets a job's environment refuses."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claude_orchestrator.batch.command import ray_settings
from claude_orchestrator.batch.ray_jobs import (
    ENDED,
    RayJobs,
    RaySettings,
    Seen,
    _next_attempt,
    exit_status,
    job_environment,
    judge,
)
from claude_orchestrator.errors import ConfigError, UsageError
from claude_orchestrator.runlog import RunLog

STATUSES = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "STOPPED")
RUN_STATUSES = ("queued", "running", "complete", "failed", "interrupted", "paused")


class FakeClient:
    """Ray's JobSubmissionClient as far as RayJobs uses it."""

    def __init__(self) -> None:
        self.jobs: dict[str, SimpleNamespace] = {}
        self.submitted: list[dict[str, Any]] = []
        self.stopped: list[str] = []
        self.busy = 0  # submissions answered "try again later" first

    def submit_job(self, **kw: Any) -> str:
        if self.busy:
            self.busy -= 1
            raise RuntimeError("No available agent to submit job, please try again later..")
        if kw["submission_id"] in self.jobs:
            raise RuntimeError(f"Job with submission_id {kw['submission_id']} already exists.")
        self.submitted.append(kw)
        self.jobs[kw["submission_id"]] = SimpleNamespace(status="PENDING", message="",
                                                         driver_exit_code=None)
        return str(kw["submission_id"])

    def get_job_info(self, job_id: str) -> SimpleNamespace:
        if job_id not in self.jobs:
            raise RuntimeError(f"Job {job_id} does not exist")
        return self.jobs[job_id]

    def stop_job(self, job_id: str) -> bool:
        self.stopped.append(job_id)
        return True

    def get_job_logs(self, job_id: str) -> str:
        return f"log of {job_id}\n"


def _run(log: RunLog, tmp_path: Path, queued: bool = True) -> str:
    return log.start_run(mode="autonomous", task="t", workdir=tmp_path, model=None, session="s",
                         socket="k", settings={}, queued=queued).id


def _jobs(log: RunLog, client: FakeClient, tmp_path: Path) -> RayJobs:
    return RayJobs(log, client, RaySettings("http://127.0.0.1:8265"),
                   {"CLAUDE_ORCHESTRATOR_RUNLOG": "x"}, tmp_path / "out")


def test_one_run_is_one_job_named_by_the_run_id_and_asking_for_one_agent_slot(
        tmp_path: Path) -> None:
    client = FakeClient()
    client.busy = 2  # a head just started: tried again, bounded
    with RunLog(tmp_path / "runs.sqlite3") as log:
        run_id = _run(log, tmp_path)
        job = _jobs(log, client, tmp_path).start(run_id, ["--max-iterations", "3"])
        assert job.job_id == run_id and log.get_run(run_id).job_id == run_id
    [sent] = client.submitted
    assert sent["submission_id"] == run_id
    assert sent["entrypoint_resources"] == {"agent_slot": 1} and sent["entrypoint_num_cpus"] == 0
    assert sent["entrypoint"] == f"claude-orchestrator resume {run_id} --json --max-iterations 3"
    assert sent["runtime_env"] == {"env_vars": {"CLAUDE_ORCHESTRATOR_RUNLOG": "x"}}


def test_a_job_still_at_work_is_followed_never_submitted_twice(tmp_path: Path) -> None:
    client = FakeClient()
    with RunLog(tmp_path / "runs.sqlite3") as log:
        run_id = _run(log, tmp_path)
        _jobs(log, client, tmp_path).start(run_id)
        client.jobs[run_id].status = "RUNNING"
        again = _jobs(log, client, tmp_path).start(run_id)  # a batch started again
        assert again.job_id == run_id and len(client.submitted) == 1
        client.jobs[run_id].status = "STOPPED"  # it ended: the next attempt is a new job
        third = _jobs(log, client, tmp_path).start(run_id)
        assert third.job_id == f"{run_id}.2" and log.get_run(run_id).job_id == f"{run_id}.2"
        assert [s["submission_id"] for s in client.submitted] == [run_id, f"{run_id}.2"]


def test_a_job_recorded_but_never_submitted_is_submitted_under_that_id(tmp_path: Path) -> None:
    """The batch died between recording the job and submitting it."""
    client = FakeClient()
    with RunLog(tmp_path / "runs.sqlite3") as log:
        run_id = _run(log, tmp_path)
        assert log.set_job(run_id, run_id, None)
        assert _jobs(log, client, tmp_path).start(run_id).job_id == run_id
        assert [s["submission_id"] for s in client.submitted] == [run_id]


def test_a_job_lost_while_its_run_says_working_records_it_interrupted(tmp_path: Path) -> None:
    client = FakeClient()
    with RunLog(tmp_path / "runs.sqlite3") as log:
        run_id = _run(log, tmp_path, queued=False)  # running, as the job's process left it
        jobs = _jobs(log, client, tmp_path)
        job = jobs.start(run_id)
        assert jobs.wait([job], 0) == [] and job.poll() is None
        client.jobs[run_id].status = "FAILED"
        client.jobs[run_id].message = "The node running this job died\nmore"
        assert jobs.wait([job], 0) == [job] and job.poll() == 1
        run = log.get_run(run_id)
        assert run.status == "interrupted"
        assert run.message == f"Ray job {run_id} failed: The node running this job died"
        assert (tmp_path / "out" / f"{run_id}.log").read_text().endswith(f"log of {run_id}\n")
        job.stop()
        assert client.stopped == [run_id]


@given(st.sampled_from(STATUSES), st.sampled_from(RUN_STATUSES))
def test_a_status_means_one_outcome(job: str, run: str) -> None:
    seen = judge(job, run)
    assert (seen is Seen.AT_WORK) == (job not in ENDED)
    assert (seen is Seen.LOST) == (job in ENDED and run == "running")
    assert (exit_status(job, None) is None) == (seen is Seen.AT_WORK)


@given(st.sampled_from(ENDED), st.one_of(st.none(), st.integers(0, 255)))
def test_the_entrypoints_own_exit_status_wins(job: str, code: int | None) -> None:
    expected = code if code is not None else {"SUCCEEDED": 0, "FAILED": 1, "STOPPED": 143}[job]
    assert exit_status(job, code) == expected


@given(st.text("abc.2", max_size=6))
def test_attempts_are_numbered_after_the_run(tail: str) -> None:
    run = "r1"
    nxt = _next_attempt(run, f"{run}.{tail}" if tail else run)
    assert nxt.startswith(f"{run}.") and nxt[len(run) + 1:].isdigit()
    assert int(nxt[len(run) + 1:]) >= 2


@given(st.sampled_from(["OPENROUTER_API_KEY", "ANTHROPIC_API_KEY", "GITHUB_TOKEN",
                        "MY_SECRET", "DB_PASSWORD", "AWS_CREDENTIALS", "X_AUTH"]))
def test_a_secret_is_refused_in_a_jobs_environment(name: str) -> None:
    with pytest.raises(ConfigError, match=f"refusing to put {name} into the Ray jobs'"):
        job_environment(RaySettings("http://h:8265", ("PATH", name)), "postgresql://u@h/db",
                        {name: "v", "PATH": "/bin"}, None)


def test_a_value_holding_the_key_and_the_nodes_own_home_are_refused() -> None:
    key = "sk-or-v1-abcdef0123456789"
    with pytest.raises(ConfigError, match="refusing to put EXTRA"):
        job_environment(RaySettings("http://h:8265", ("EXTRA",)), "postgresql://u@h/db",
                        {"EXTRA": f"x{key}y"}, key)
    with pytest.raises(UsageError, match="a job's HOME is its node's"):
        job_environment(RaySettings("http://h:8265", ("HOME",)), "postgresql://u@h/db",
                        {"HOME": "/root"}, None)
    with pytest.raises(ConfigError, match="run log's password"):
        job_environment(RaySettings("http://h:8265"), "postgresql://u:pw@h/db", {}, None)
    env = job_environment(RaySettings("http://h:8265", ("PATH", "UNSET")), "postgresql://u@h/db",
                          {"PATH": "/bin"}, None)
    assert env["PATH"] == "/bin" and "UNSET" not in env
    assert env["CLAUDE_ORCHESTRATOR_RUNLOG"] == "postgresql://u@h/db"


def _ns(**kw: str | None) -> argparse.Namespace:
    base = {"executor": None, "ray_address": None, "ray_env": None, "ray_command": None}
    return argparse.Namespace(**{**base, **kw})


def test_where_the_runs_go_flag_then_file_then_environment() -> None:
    assert ray_settings(_ns(), {}, {}) is None
    env = {"CLAUDE_ORCHESTRATOR_EXECUTOR": "ray",
           "CLAUDE_ORCHESTRATOR_RAY_ADDRESS": "http://env:8265"}
    assert ray_settings(_ns(), {}, env) == RaySettings("http://env:8265")
    assert ray_settings(_ns(), {"ray_address": "http://file:8265/"}, env) == RaySettings(
        "http://file:8265")
    assert ray_settings(_ns(ray_address="http://flag:8265"), {"ray_address": "http://file"},
                        env).address == "http://flag:8265"  # type: ignore[union-attr]
    assert ray_settings(_ns(executor="local"), {}, env) is None
    with pytest.raises(UsageError, match="needs the cluster's address"):
        ray_settings(_ns(executor="ray"), {}, {})
    with pytest.raises(UsageError, match="--ray-address goes with --executor ray"):
        ray_settings(_ns(ray_address="http://h:8265"), {}, {})
    local = ray_settings(_ns(ray_address="http://127.0.0.1:8265", ray_env="PATH, X,"), {},
                         {"CLAUDE_ORCHESTRATOR_EXECUTOR": "ray"})
    assert local is not None and local.env == ("PATH", "X")
    assert local.command == (sys.executable, "-m", "claude_orchestrator")  # this machine's
    with pytest.raises(UsageError, match="must be local or ray"):
        ray_settings(_ns(executor="slurm"), {}, {})
