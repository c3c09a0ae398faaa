"""Real servers for the tests past one machine, one of each per test session (their start-up
costs stay out of every other test): a PostgreSQL cluster (initdb in a temp folder, on
127.0.0.1) and a Ray head (`ray start --head` on 127.0.0.1, offline). A missing server skips
the tests that need it, naming the install; under scripts/test (CO_TEST_REQUIRE_SCALE=1, and
.ci/run installs both) it fails them instead: CI never skips them."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_USER = "co_test"  # the cluster's superuser (trust on loopback)
PG_PASSWORD_USER, PG_PASSWORD = "co_pw", "pw-5ecr3t-0a1b2c"  # a role that needs its password
# Claude's key on the cluster's nodes (what docs/scale.md has the nodes hold): the Ray head is
# started with it, so the jobs have it without the batch ever sending it.
NODE_ANTHROPIC_KEY = "sk-ant-api03-ray-node-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def missing(what: str) -> None:
    """A server this machine lacks: the test is skipped saying how to install it, or fails
    where the test command promised it (CO_TEST_REQUIRE_SCALE=1)."""
    if os.environ.get("CO_TEST_REQUIRE_SCALE") == "1":
        pytest.fail(what, pytrace=False)
    pytest.skip(what, allow_module_level=True)


def _pg_bin() -> Path:
    """The folder with initdb, pg_ctl and postgres: on PATH, or Debian's own place."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(folder) / "initdb").exists():
            return Path(folder)
    missing("PostgreSQL is not installed (initdb, pg_ctl, postgres): apt-get install "
            "postgresql (.ci/run installs it)")
    raise AssertionError("unreachable")


def _as_owner(owner: str | None) -> list[str]:
    """PostgreSQL refuses to run as root: as root, its commands run as `owner`."""
    return ["runuser", "-u", owner, "--"] if owner else []


@dataclass
class Postgres:
    """A running cluster: URLs to new databases, and a restart."""

    bin: Path
    data: Path
    port: int
    owner: str | None
    log: Path
    fsync: bool = False  # the tests' speed; bench/scale.py measures with it on

    def url(self, db: str = "postgres", user: str = PG_USER) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{db}"

    def new_database(self) -> str:
        """A fresh, empty database's URL (a test's own run log)."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
            conn.execute(f"GRANT ALL ON DATABASE {name} TO {PG_PASSWORD_USER}")
        with psycopg.connect(self.url(name), autocommit=True) as conn:
            conn.execute(f"GRANT ALL ON SCHEMA public TO {PG_PASSWORD_USER}")
        return self.url(name)

    def pg_ctl(self, *args: str) -> None:
        subprocess.run([*_as_owner(self.owner), str(self.bin / "pg_ctl"), "-D", str(self.data),
                        *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self.pg_ctl("-l", str(self.log), "-w", "-o",
                    f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.data} "
                    "-c shared_buffers=16MB -c max_connections=120 -c "
                    f"fsync={'on' if self.fsync else 'off'}", "start")

    def restart(self) -> None:
        self.pg_ctl("-m", "fast", "-w", "stop")
        time.sleep(1.0)  # down for a moment: writes meanwhile must wait, not fail
        self.start()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    with running_postgres() as server:
        yield server


@contextlib.contextmanager
def running_postgres(fsync: bool = False) -> Iterator[Postgres]:
    """A PostgreSQL cluster in a temp folder on 127.0.0.1, removed afterwards (bench/ too)."""
    folder = _pg_bin()
    owner = None
    if os.getuid() == 0:
        owner = "postgres" if _user_exists("postgres") else "nobody"
    data = Path(tempfile.mkdtemp(prefix="co-pg-"))
    if owner:
        info = pwd.getpwnam(owner)
        os.chown(data, info.pw_uid, info.pw_gid)
    subprocess.run([*_as_owner(owner), str(folder / "initdb"), "-D", str(data / "db"), "-U",
                    PG_USER, "--auth=trust", "-E", "UTF8", "--no-sync"], check=True,
                   capture_output=True, timeout=120)
    hba = data / "db" / "pg_hba.conf"
    hba.write_text(f"host all {PG_PASSWORD_USER} 127.0.0.1/32 scram-sha-256\n"
                   f"local all all trust\nhost all {PG_USER} 127.0.0.1/32 trust\n")
    server = Postgres(folder, data / "db", free_port(), owner, data / "server.log", fsync)
    if owner:
        subprocess.run(["chown", "-R", owner, str(data)], check=True)
    server.start()
    try:
        import psycopg

        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {PG_PASSWORD_USER} LOGIN PASSWORD '{PG_PASSWORD}'")
        yield server
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            server.pg_ctl("-m", "immediate", "-w", "stop")
        shutil.rmtree(data, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@dataclass
class RayHead:
    """A running Ray head: its Jobs API address, and the token file a client needs."""

    address: str
    token_file: Path
    home: Path


def _ray_tree(pid: int) -> list[int]:
    import psutil

    with contextlib.suppress(psutil.NoSuchProcess):
        return [pid] + [p.pid for p in psutil.Process(pid).children(recursive=True)]
    return []


@pytest.fixture(scope="session")
def ray_head() -> Iterator[RayHead]:
    with running_ray_head() as head:
        yield head


@contextlib.contextmanager
def running_ray_head() -> Iterator[RayHead]:
    """`ray start --head --block` on 127.0.0.1 with two agent slots, offline, in a temp folder
    (short: Ray's socket paths have a length limit). Its HOME is its own (the auth token it
    writes), and it holds Claude's key, as a node of a real cluster would. Every process it
    started is ended afterwards (never `ray stop`: that would end any other Ray here too)."""
    ray = Path(sys.executable).parent / "ray"
    if not ray.exists():
        missing("Ray is not installed: pip install 'claude-orchestrator[ray]' (scripts/test "
                "installs it)")
    base = Path(tempfile.mkdtemp(prefix="co-ray-", dir="/tmp"))
    home = base / "home"
    home.mkdir()
    port, dash = free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RAY_", "OPENROUTER_", "CLAUDE_", "ANTHROPIC_"))}
    env.update(HOME=str(home), ANTHROPIC_API_KEY=NODE_ANTHROPIC_KEY)
    # Token auth, as a real cluster has it: with a token in ~/.ray the head requires it.
    subprocess.run([str(ray), "get-auth-token", "--generate"], env=env, check=True,
                   capture_output=True, timeout=120)
    proc = subprocess.Popen(
        [str(ray), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
         f"--port={port}", "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}",
         "--num-cpus=2", '--resources={"agent_slot": 2}', "--disable-usage-stats",
         "--include-dashboard=true", f"--temp-dir={base / 'r'}",
         # Every fixed port of its own: a second Ray on this machine (a person's, the hidden
         # checks') would otherwise take the dashboard agent's, and no job could be submitted.
         *(f"--{name}={free_port()}" for name in (
             "dashboard-agent-listen-port", "dashboard-agent-grpc-port", "metrics-export-port",
             "runtime-env-agent-port", "ray-client-server-port"))],
        env=env, stdout=open(base / "ray.log", "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
        stdin=subprocess.DEVNULL, start_new_session=True)
    head = RayHead(f"http://127.0.0.1:{dash}", home / ".ray" / "auth_token", home)
    try:
        _wait_for_dashboard(head, proc, base / "ray.log")
        yield head
    finally:
        pids = _ray_tree(proc.pid)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
        for pid in _ray_tree(proc.pid) + pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        shutil.rmtree(base, ignore_errors=True)


def _wait_for_dashboard(head: RayHead, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until the Jobs API answers with the token (bounded: 90 s)."""
    import urllib.request

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"ray start exited {proc.returncode}: {log.read_text()[-2000:]}")
        if head.token_file.exists():
            request = urllib.request.Request(
                head.address + "/api/jobs/",
                headers={"Authorization": "Bearer " + head.token_file.read_text().strip()})
            with contextlib.suppress(OSError), urllib.request.urlopen(request,
                                                                       timeout=5) as answer:
                if answer.status == 200:
                    return
        time.sleep(0.5)
    pytest.fail(f"the Ray head did not answer in 90 s: {log.read_text()[-2000:]}")
