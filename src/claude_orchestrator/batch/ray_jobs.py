"""`batch --executor ray`: each run one job of a Ray cluster, through its Jobs API.

A job's entrypoint is the product's own command on the node: `claude-orchestrator resume
RUN_ID`, the run's task and settings already in the shared run log. Its `submission_id` is the
run id (a later attempt adds `.2`, `.3`), recorded in the run log before it is submitted, so a
batch started again finds its jobs, adopts those still pending or running, and never submits
one twice (Ray refuses a second job under one submission id, and the record is a
compare-and-set). It asks for one `agent_slot` and no CPU: `--parallel` is how many the batch
has in flight, the nodes' slots how many one machine runs.

The job's environment carries where the run log is and the variables the person names
(`--ray-env`), never a secret: Ray keeps a job's runtime_env in clear (its dashboard, `ray job
list`). The supervisor's key, Claude's credentials and the run log's password reach a node as
files or variables the cluster gives it (docs/scale.md). Stopping a job is Ray's SIGTERM to
the run, which records itself interrupted and ends its own tmux server (Ray cannot: tmux
daemonises); Ray is asked to wait for that before it kills.
"""

from __future__ import annotations

import contextlib
import enum
import os
import re
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, assert_never

from claude_orchestrator.errors import ConfigError, OrchestratorError, UsageError
from claude_orchestrator.process import SECRET_ENV, secret_names
from claude_orchestrator.runlog import RunLog
from claude_orchestrator.runtime.state import open_private, private_dir
from claude_orchestrator.trust import is_loopback_url, runlog_password

INSTALL = "pip install 'claude-orchestrator[ray]'"
ENDED = ("SUCCEEDED", "FAILED", "STOPPED")
STOP_WAIT = 100  # s Ray gives a stopped run to record itself before SIGKILL (< STOP_GRACE)
SUBMIT_TRIES = 60  # once a second while Ray says "try again later" (its job agent starting)
PENDING_NOTE = 60.0  # s a job may wait for a slot before the batch says so
NODE_OWN = frozenset({"HOME", "USER", "LOGNAME"})  # a job with another HOME stays PENDING
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|(^|_)AUTH", re.IGNORECASE)
HOW = ("give it to the nodes instead: the supervisor's key as a file every node has "
       "(--api-key-file /run/secrets/openrouter) or in the environment `ray start` runs with "
       "on each node, Claude's key likewise, the run log's password in ~/.pgpass; see "
       "docs/scale.md")


@dataclass(frozen=True)
class RaySettings:
    """Where the jobs go and what they carry: the Jobs API's address, the variables of this
    environment each job gets, and the product's command on a node."""

    address: str
    env: tuple[str, ...] = ()
    command: tuple[str, ...] = ("claude-orchestrator",)


def job_environment(settings: RaySettings, runlog: str, environ: Mapping[str, str],
                    key: str | None) -> dict[str, str]:
    """The variables every job gets: where the run log is, how long Ray waits for a stopped
    run, and the named ones of `environ`. A secret among them is refused (one line, exit 2,
    saying how the nodes get it instead): a job's runtime_env is kept in clear."""
    if runlog_password(runlog):
        raise ConfigError("refusing to put the run log's password into the Ray jobs' "
                          "runtime_env (Ray keeps it in clear): give the URL without it, and "
                          "each node the password in ~/.pgpass or PGPASSWORD (docs/scale.md)")
    secret = secret_names()
    env = {"CLAUDE_ORCHESTRATOR_RUNLOG": runlog, "RAY_JOB_STOP_WAIT_TIME_S": str(STOP_WAIT),
           "PYTHONUNBUFFERED": "1"}
    for name in settings.env:
        value = environ.get(name, "")
        holds_key = bool(key and key in value)
        if name in secret or name == SECRET_ENV or _SECRET_NAME.search(name) or holds_key:
            raise ConfigError(f"refusing to put {name} into the Ray jobs' runtime_env: Ray "
                              f"keeps it in clear (its dashboard, `ray job list`); {HOW}")
        if name in env:
            raise UsageError(f"--ray-env {name}: the batch sets that one itself")
        if name in NODE_OWN:
            raise UsageError(f"--ray-env {name}: a job's {name} is its node's (Ray's workers "
                             "find their auth token under it; a job given another never "
                             "starts): set it where `ray start` runs on each node")
        if value:
            env[name] = value
    return env


def connect(address: str, environ: Mapping[str, str]) -> Any:
    """A Jobs API client for `address`, with Ray's token when there is one (RAY_AUTH_TOKEN,
    the file RAY_AUTH_TOKEN_PATH names, or ~/.ray/auth_token): one line, exit 2, when Ray is
    not installed or the cluster cannot be reached."""
    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError:
        raise UsageError(f"--executor ray needs Ray: {INSTALL}") from None
    token = ray_token(environ)
    headers = {"Authorization": f"Bearer {token}"} if token else None
    try:
        return JobSubmissionClient(address, headers=headers)
    except Exception as e:  # Ray raises ConnectionError, RuntimeError, ValueError...
        raise ConfigError(f"cannot reach the Ray cluster at {address}: {_first(e)}") from None


def offered_slots(address: str, environ: Mapping[str, str]) -> float | None:
    """The agent slots the cluster's live nodes offer now (the dashboard's node summary), or
    None when that cannot be read (an older Ray, a proxy): then nothing is said."""
    import json
    import urllib.request

    token = ray_token(environ)
    request = urllib.request.Request(f"{address}/nodes?view=summary", headers=(
        {"Authorization": f"Bearer {token}"} if token else {}))
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return slots_in(json.loads(answer.read()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def slots_in(summary: Any) -> float:
    """`agent_slot` summed over the ALIVE nodes of Ray's node summary.

    >>> slots_in({"data": {"summary": [{"raylet": {"state": "ALIVE", "resourcesTotal":
    ...     {"CPU": 2.0, "agent_slot": 2.0}}}, {"raylet": {"state": "DEAD", "resourcesTotal":
    ...     {"agent_slot": 4.0}}}, {"raylet": {"state": "ALIVE", "resourcesTotal": {}}}]}})
    2.0
    """
    return float(sum(n["raylet"]["resourcesTotal"].get("agent_slot", 0)
                     for n in summary["data"]["summary"] if n["raylet"]["state"] == "ALIVE"))


def ray_token(environ: Mapping[str, str]) -> str:
    """Ray's auth token as its own CLI finds it (a secret: kept from every child of ours)."""
    secret_names(["RAY_AUTH_TOKEN"])
    if environ.get("RAY_AUTH_TOKEN", "").strip():
        return environ["RAY_AUTH_TOKEN"].strip()
    path = environ.get("RAY_AUTH_TOKEN_PATH") or str(Path(environ.get("HOME", "~"))
                                                     / ".ray" / "auth_token")
    try:
        return Path(path).expanduser().read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def check_address(address: str, runlog: str) -> None:
    """A run log every node can write: a SQLite file serves a cluster on this machine only."""
    if not re.match(r"^https?://[^\s/]+", address):
        raise UsageError(f"--ray-address must be the Jobs API's http(s) URL (e.g. "
                         f"http://HEAD:8265), got {address!r}")
    if not runlog.startswith(("postgresql://", "postgres://")) and not is_loopback_url(address):
        raise UsageError(f"the runs on {address}'s nodes cannot write the SQLite run log "
                         f"{runlog} on this machine: give --runlog postgresql://USER@HOST/DB "
                         "(docs/scale.md)")


def _first(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]


class Seen(enum.Enum):
    """What a job's status, read with its run's recorded status, means to the batch."""

    AT_WORK = "at work"  # pending or running: looked at again
    ENDED = "ended"      # ended, and the run recorded its own end
    LOST = "lost"        # ended while its run still says running: a kill, its node gone


def judge(job_status: str, run_status: str) -> Seen:
    """A status Ray may add later counts as at work (the batch's timeout still bounds it).

    >>> judge('STOPPED', 'running'), judge('SUCCEEDED', 'complete').value
    (<Seen.LOST: 'lost'>, 'ended')
    """
    if job_status not in ENDED:
        return Seen.AT_WORK
    return Seen.LOST if run_status == "running" else Seen.ENDED


def exit_status(job_status: str, driver_exit_code: int | None) -> int | None:
    """The run's exit status as the batch counts it: the entrypoint's own when Ray has it,
    else 0 for SUCCEEDED, 1 for FAILED, 143 (SIGTERM's) for STOPPED; None while it works."""
    if job_status not in ENDED:
        return None
    if driver_exit_code is not None:
        return driver_exit_code
    return {"SUCCEEDED": 0, "FAILED": 1}.get(job_status, 143)


class RayJob:
    """One run's job (the latest attempt): its status as last seen, and Ray's message."""

    def __init__(self, run_id: str, job_id: str, jobs: RayJobs) -> None:
        self.run_id = run_id
        self.job_id = job_id
        self.jobs = jobs
        self.status = "PENDING"
        self.message = ""
        self.exit_code: int | None = None
        self.since = time.monotonic()
        self.output: Path | None = None  # Ray's log of the job, copied here when it ends

    def poll(self) -> int | None:
        """Its exit status once Ray says it ended: the run's own, else 0, 1 or 143."""
        return exit_status(self.status, self.exit_code)

    def stop(self) -> None:
        """Ray's SIGTERM to the run (it records itself interrupted, ends its tmux)."""
        self.jobs.stop(self.job_id)

    def kill(self) -> None:
        """Ray kills a stopped job itself after STOP_WAIT: asking again is all there is."""
        self.jobs.stop(self.job_id)


class RayJobs:
    """The Executor seam on Ray's Jobs API (`client`: a JobSubmissionClient)."""

    def __init__(self, log: RunLog, client: Any, settings: RaySettings, env: Mapping[str, str],
                 outputs: Path, note: Callable[[str], None] = lambda _: None) -> None:
        self.log = log
        self.client = client
        self.settings = settings
        self.env = dict(env)
        self.outputs = outputs
        self.note = note

    def start(self, run_id: str, args: Sequence[str] = ()) -> RayJob:
        """Adopt the run's job when Ray still has it pending or running; else submit its next
        attempt (recorded first, then submitted: a batch that died in between submits that
        same id, and Ray refuses it if it got there after all)."""
        recorded = self.log.get_run(run_id).job_id
        for _ in range(5):  # bounded: each round another batch moved the record on
            if recorded:
                info = self._info(recorded)
                if info is not None and info.status not in ENDED:
                    return self._adopt(run_id, recorded, "still at work")
                job_id = recorded if info is None else _next_attempt(run_id, recorded)
            else:
                job_id = run_id
            if job_id == recorded or self.log.set_job(run_id, job_id, recorded):
                return self._submit(run_id, job_id, args)
            recorded = self.log.get_run(run_id).job_id
        raise OrchestratorError(f"run {run_id}: its job kept changing under another batch")

    def _adopt(self, run_id: str, job_id: str, why: str) -> RayJob:
        self.note(f"{run_id}: Ray job {job_id} is {why}; following it")
        return RayJob(run_id, job_id, self)

    def _submit(self, run_id: str, job_id: str, args: Sequence[str]) -> RayJob:
        entrypoint = shlex.join([*self.settings.command, "resume", run_id, "--json", *args])
        for attempt in range(SUBMIT_TRIES):  # bounded: a head just started has no job agent
            try:
                self.client.submit_job(
                    entrypoint=entrypoint, submission_id=job_id,
                    runtime_env={"env_vars": self.env}, entrypoint_num_cpus=0,
                    entrypoint_resources={"agent_slot": 1},
                    metadata={"claude_orchestrator_run": run_id})
            except Exception as e:
                if "already exists" in str(e):  # another batch submitted it a moment ago
                    return self._adopt(run_id, job_id, "already submitted")
                if "try again later" in str(e) and attempt + 1 < SUBMIT_TRIES:
                    if attempt == 0:
                        self.note(f"Ray has no job agent ready yet ({_first(e)}); trying again "
                                  f"for up to {SUBMIT_TRIES} s")
                    time.sleep(1.0)
                    continue
                raise OrchestratorError(f"Ray refused the job for run {run_id}: "
                                        f"{_first(e)}") from e
            break
        return RayJob(run_id, job_id, self)

    def _info(self, job_id: str) -> Any:
        try:
            return self.client.get_job_info(job_id)
        except RuntimeError as e:
            if "does not exist" in str(e) or "404" in str(e):
                return None
            raise

    def stop(self, job_id: str) -> None:
        try:
            self.client.stop_job(job_id)
        except Exception as e:  # already ended, or the head is gone: said, not raised
            self.note(f"Ray job {job_id} could not be stopped: {_first(e)}")

    def wait(self, handles: Sequence[Any], timeout: float) -> list[Any]:
        """Those of `handles` Ray reports ended, looking every second up to `timeout`."""
        end = time.monotonic() + timeout
        while True:
            ended = [h for h in handles if isinstance(h, RayJob) and self._look(h)]
            left = end - time.monotonic()
            if ended or left <= 0:
                return ended
            time.sleep(min(1.0, left))

    def _look(self, job: RayJob) -> bool:
        """Whether the job ended (its end then recorded); a head that does not answer is
        asked again next time."""
        if job.status in ENDED:
            return True
        try:
            info = self.client.get_job_info(job.job_id)
        except Exception:
            return False
        job.status, job.message = str(info.status), str(info.message or "")
        job.exit_code = getattr(info, "driver_exit_code", None)
        if job.status == "PENDING" and time.monotonic() - job.since > PENDING_NOTE:
            job.since = float("inf")  # said once
            self.note(f"Ray job {job.job_id} waits for a slot: do the nodes offer agent_slot "
                      "(ray start --resources='{\"agent_slot\": N}')?")
        if job.status not in ENDED:
            return False
        self._ended(job)
        return True

    def _ended(self, job: RayJob) -> None:
        """A job that failed or was stopped while its run still says running (killed, its
        node gone): the run is recorded interrupted with Ray's message. Ray's log of the job
        is kept beside the batch's."""
        run = self.log.get_run(job.run_id)
        seen = judge(job.status, run.status)
        match seen:
            case Seen.LOST:
                with contextlib.suppress(Exception):  # never a reason to stop the batch
                    self.log.interrupt_if_running(
                        run.id, pid=run.pid, host=run.host,
                        message=f"Ray job {job.job_id} {job.status.lower()}: "
                                f"{_first(Exception(job.message)) or 'no message'}")
            case Seen.ENDED | Seen.AT_WORK:
                pass
            case _:
                assert_never(seen)
        with contextlib.suppress(Exception):  # never a reason to stop the batch
            text = self.client.get_job_logs(job.job_id)
            private_dir(self.outputs)
            path = self.outputs / f"{job.run_id}.log"
            fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            with open(fd, "w", encoding="utf-8", errors="replace") as out:
                out.write(f"--- Ray job {job.job_id} ({job.status})\n{self.log.redact(text)}")
            job.output = path


def _next_attempt(run_id: str, job_id: str) -> str:
    """`RUN_ID`, then `RUN_ID.2`, `RUN_ID.3`... (Ray keeps each attempt's record and log).

    >>> _next_attempt('r1', 'r1'), _next_attempt('r1', 'r1.2')
    ('r1.2', 'r1.3')
    """
    tail = job_id[len(run_id) + 1:] if job_id.startswith(run_id + ".") else ""
    return f"{run_id}.{int(tail) + 1 if tail.isdigit() else 2}"
