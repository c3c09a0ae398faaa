"""Past one machine, what it costs: a run started as a Ray job against a local process, and a
run-log write to PostgreSQL against the SQLite file. One real Ray head and one real PostgreSQL
on 127.0.0.1 (started here, as the tests start them, and removed afterwards).

    .venv/bin/python bench/scale.py            # prints a Markdown table

- Ray head start: `ray start --head` to its Jobs API answering with the token.
- Per-run start overhead: the product's own command (`python -m claude_orchestrator --help`,
  what a job's entrypoint imports before it resumes its run) 8 times as local processes and 8
  times as Ray jobs (one agent_slot, no CPU, one at a time so no job waits for a slot): from
  the start (Popen / submit_job) to the end (exit / SUCCEEDED seen, polled every 20 ms), and
  for Ray from submit_job to its status leaving PENDING (the entrypoint being started). The
  extra start per run is the Ray median minus the local median. The batch's executor looks at
  its jobs once a second, so it sees an end up to 1 s later still: the batch's bookkeeping,
  not a run's start.
- Run-log write latency: 300 `set_activity` writes (a run's most frequent write) to a run in a
  SQLite file (WAL, synchronous=NORMAL) and in PostgreSQL on loopback (fsync on), median and p95.

Goals (issue 22): under 2 s of extra start per run, under 20 ms per run-log write on loopback.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from claude_orchestrator.runlog import RunLog  # noqa: E402
from tests.integration.servers import (  # noqa: E402
    RayHead,
    running_postgres,
    running_ray_head,
)

RUNS = 8
WRITES = 300
COMMAND = [sys.executable, "-m", "claude_orchestrator", "--help"]


def local_starts() -> list[float]:
    out = []
    for _ in range(RUNS):
        t0 = time.monotonic()
        subprocess.run(COMMAND, capture_output=True, check=True, timeout=60)
        out.append(time.monotonic() - t0)
    return out


def ray_starts(head: RayHead) -> tuple[list[float], list[float]]:
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(head.address, headers={
        "Authorization": "Bearer " + head.token_file.read_text().strip()})
    ends, starts = [], []
    for n in range(RUNS + 1):  # the first warms the head's job agent up: not counted
        t0 = time.monotonic()
        for _ in range(600):  # a head just started: "try again later" for some seconds
            try:
                job = client.submit_job(entrypoint=" ".join(COMMAND), entrypoint_num_cpus=0,
                                        entrypoint_resources={"agent_slot": 1},
                                        runtime_env={"env_vars": {"PATH": os.environ["PATH"]}})
                break
            except RuntimeError as e:
                if "try again later" not in str(e):
                    raise
                time.sleep(0.1)
        running = None
        for _ in range(6000):  # bounded: 120 s
            info = client.get_job_info(job)
            if running is None and str(info.status) != "PENDING":
                running = time.monotonic() - t0
            if str(info.status) in ("SUCCEEDED", "FAILED", "STOPPED"):
                break
            time.sleep(0.02)
        assert str(info.status) == "SUCCEEDED", info.message
        if n:
            ends.append(time.monotonic() - t0)
            starts.append(running or 0.0)
    return ends, starts


def write_latency(url: str) -> list[float]:
    with RunLog(url) as log:
        run = log.start_run(mode="autonomous", task="bench", workdir="/tmp", model=None,
                            session=None, socket=None, settings={})
        out = []
        for n in range(WRITES):
            t0 = time.perf_counter()
            log.set_activity(run.id, f"working {n}")
            out.append(time.perf_counter() - t0)
    return out


def p95(xs: list[float]) -> float:
    return sorted(xs)[int(len(xs) * 0.95) - 1]


def main() -> int:
    print(f"# bench/scale.py: {platform.node()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}\n")
    t0 = time.monotonic()
    with running_ray_head() as head:
        head_start = time.monotonic() - t0
        local = local_starts()
        ray_end, ray_start = ray_starts(head)
    with tempfile.TemporaryDirectory() as folder, running_postgres(fsync=True) as pg:
        sqlite = write_latency(str(Path(folder) / "runs.sqlite3"))
        postgres = write_latency(pg.new_database())
    med = statistics.median
    extra = med(ray_end) - med(local)
    print(f"Ray head start: {head_start:.1f} s\n")
    print("| per run (8) | median | max |\n|---|---|---|")
    print(f"| local process, start to exit | {med(local):.2f} s | {max(local):.2f} s |")
    print(f"| Ray job, submit to SUCCEEDED seen | {med(ray_end):.2f} s | {max(ray_end):.2f} s |")
    print(f"| Ray job, submit to RUNNING seen | {med(ray_start):.2f} s | "
          f"{max(ray_start):.2f} s |")
    print(f"\nExtra start per run through Ray: {extra:.2f} s (goal < 2 s: "
          f"{'met' if extra < 2 else 'NOT met'})\n")
    print(f"| run-log write ({WRITES} set_activity) | median | p95 |\n|---|---|---|")
    for name, xs in (("SQLite file (WAL)", sqlite), ("PostgreSQL, loopback, fsync on", postgres)):
        print(f"| {name} | {med(xs) * 1000:.2f} ms | {p95(xs) * 1000:.2f} ms |")
    worst = p95(postgres) * 1000
    print(f"\nPostgreSQL write p95 {worst:.2f} ms (goal < 20 ms: "
          f"{'met' if worst < 20 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
