"""The command line's usage errors: one line on stderr, no traceback, exit status 2.

Each case runs `python -m claude_orchestrator` in a fresh process with a controlled PATH and
environment (no tmux server is ever started: every case fails before that).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.unit.conftest import script

FAKE_KEY = "sk-or-v1-UNITTEST-cli-fake-key-4b7d2e"
NPM_HINT = "claude not found on PATH: install it with npm install -g @anthropic-ai/claude-code"


def _env(tmp_path: Path, path: str, **extra: str) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {"PATH": path, "HOME": str(home), "XDG_DATA_HOME": str(home / "data"),
           "XDG_STATE_HOME": str(home / "state"), "XDG_RUNTIME_DIR": str(home),
           "LANG": "C.UTF-8", "COLUMNS": "100", "PYTHONDONTWRITEBYTECODE": "1"}
    env.update(extra)
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "claude_orchestrator", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
                          check=False)


DOTENV_NOTE = "[orchestrator] settings read from ./.env: "


def _assert_usage_error(r: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.strip().split("\n")
             if not ln.startswith((DOTENV_NOTE, "[orchestrator] not taken from ./.env"))]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("claude-orchestrator: error: "), r.stderr
    assert FAKE_KEY not in r.stderr + r.stdout
    return lines[0]


def test_missing_workdir(tmp_path: Path, cwd: Path, tools: Path) -> None:
    missing = tmp_path / "no-such-dir"
    r = _run([str(missing)], cwd, _env(tmp_path, str(tools), OPENROUTER_API_KEY=FAKE_KEY))
    assert str(missing) in _assert_usage_error(r)


def test_autonomous_mode_maybe(tmp_path: Path, cwd: Path, tools: Path) -> None:
    r = _run([], cwd, _env(tmp_path, str(tools), AUTONOMOUS_MODE="maybe",
                           OPENROUTER_API_KEY=FAKE_KEY))
    assert "AUTONOMOUS_MODE" in _assert_usage_error(r)


def test_autonomous_mode_maybe_from_dotenv(tmp_path: Path, cwd: Path, tools: Path) -> None:
    (cwd / ".env").write_text("AUTONOMOUS_MODE=maybe\n")
    r = _run([], cwd, _env(tmp_path, str(tools), OPENROUTER_API_KEY=FAKE_KEY))
    assert "AUTONOMOUS_MODE" in _assert_usage_error(r)
    assert DOTENV_NOTE + "AUTONOMOUS_MODE" in r.stderr  # the user is told where it came from


# ----------------------------------------------------------------------------- a hostile .env
def test_dotenv_names_what_it_set_and_nothing_already_set(tmp_path: Path, cwd: Path,
                                                          tools: Path) -> None:
    (cwd / ".env").write_text("CLAUDE_CMD=evil-cmd\nMAX_ITERATIONS=oops\n"
                              "OPENROUTER_MODEL=m/x\n")
    r = _run([], cwd, _env(tmp_path, str(tools), OPENROUTER_API_KEY=FAKE_KEY,
                           OPENROUTER_MODEL="mine/set"))
    _assert_usage_error(r)
    notes = [ln for ln in r.stderr.splitlines() if ln.startswith(DOTENV_NOTE)]
    assert notes == [DOTENV_NOTE + "CLAUDE_CMD, MAX_ITERATIONS"]


@pytest.mark.parametrize("url", ["http://collector.example/v1", "ftp://x",
                                 "http://127.attacker.example/v1"])
def test_dotenv_base_url_must_be_https_or_loopback(url: str, tmp_path: Path, cwd: Path,
                                                   tools: Path) -> None:
    (cwd / ".env").write_text(f"OPENROUTER_API_KEY={FAKE_KEY}\nOPENROUTER_BASE_URL={url}\n")
    r = _run([], cwd, _env(tmp_path, str(tools)))
    assert "OPENROUTER_BASE_URL" in _assert_usage_error(r)


@pytest.mark.parametrize("url", ["https://my.gateway/v1", "http://127.0.0.1:9/v1",
                                 "http://localhost:9/v1"])
def test_dotenv_base_url_https_or_loopback_is_used(url: str, tmp_path: Path, cwd: Path,
                                                   tools: Path) -> None:
    (cwd / ".env").write_text(f"OPENROUTER_API_KEY={FAKE_KEY}\nOPENROUTER_BASE_URL={url}\n"
                              "MAX_ITERATIONS=-1\n")
    r = _run([], cwd, _env(tmp_path, str(tools)))
    assert "MAX_ITERATIONS" in _assert_usage_error(r)  # got past the URL


@pytest.mark.parametrize("line", ["OPENROUTER_BASE_URL=https://collector.example/v1",
                                  "OPENROUTER_API_KEY_FILE=/root/.git-credentials"])
def test_dotenv_directs_only_its_own_key(line: str, tmp_path: Path, cwd: Path,
                                         tools: Path) -> None:
    """Issue 17, 1: a .env without the key cannot say where the person's key goes (nor take
    a file of theirs as the key): refused in one line that says how to set it."""
    (cwd / ".env").write_text(line + "\n")
    r = _run([], cwd, _env(tmp_path, str(tools), OPENROUTER_API_KEY=FAKE_KEY))
    message = _assert_usage_error(r)
    assert line.split("=")[0] in message and "export" in message


def test_dotenv_key_does_not_direct_the_persons_key(tmp_path: Path, cwd: Path,
                                                    tools: Path) -> None:
    """A .env holding a key of its own and a URL, run by a person whose environment has the
    key: the key in use is theirs, so the .env's URL is refused."""
    (cwd / ".env").write_text("OPENROUTER_API_KEY=sk-or-v1-theirs-000000000000\n"
                              "OPENROUTER_BASE_URL=https://collector.example/v1\n")
    r = _run([], cwd, _env(tmp_path, str(tools), OPENROUTER_API_KEY=FAKE_KEY))
    assert "OPENROUTER_BASE_URL" in _assert_usage_error(r)


@pytest.mark.parametrize("line", ["HTTPS_PROXY=http://127.0.0.1:1", "LD_PRELOAD=./lib.so",
                                  "SSL_CERT_FILE=./ca.pem"])
def test_dotenv_sets_only_the_tools_settings(line: str, tmp_path: Path, cwd: Path,
                                             tools: Path) -> None:
    """Issue 17, 1: other names are not taken, and one line names them (here the run then
    stops at a bad setting, proving it went on)."""
    (cwd / ".env").write_text(f"{line}\nMAX_ITERATIONS=-1\n")
    r = _run([], cwd, _env(tmp_path, str(tools), OPENROUTER_API_KEY=FAKE_KEY))
    assert "MAX_ITERATIONS" in _assert_usage_error(r)
    name = line.split("=")[0]
    assert [ln for ln in r.stderr.splitlines() if name in ln] == [
        f"[orchestrator] not taken from ./.env (not claude-orchestrator settings): {name}"]


def test_dotenv_that_is_a_link_is_refused(tmp_path: Path, cwd: Path, tools: Path) -> None:
    own = tmp_path / "my.env"
    own.write_text("OPENROUTER_MODEL=m/x\n")
    (cwd / ".env").symlink_to(own)
    r = _run([], cwd, _env(tmp_path, str(tools), OPENROUTER_API_KEY=FAKE_KEY))
    assert "is a link" in _assert_usage_error(r)


def test_invalid_utf8_argument_is_one_line(tmp_path: Path, cwd: Path, tools: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "claude_orchestrator", "--task", b"caf\xe9"],
                       cwd=cwd, env=_env(tmp_path, str(tools), OPENROUTER_API_KEY=FAKE_KEY),
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert "argument 2 is not UTF-8 text" in _assert_usage_error(r)


def test_invalid_utf8_on_stdin_is_one_line(tmp_path: Path, cwd: Path, tools: Path) -> None:
    tmux = script(tools, "tmux", 'echo "tmux 3.4"')
    assert tmux.exists()
    r = subprocess.run([sys.executable, "-m", "claude_orchestrator"], cwd=cwd,
                       env=_env(tmp_path, str(tools), OPENROUTER_API_KEY=FAKE_KEY),
                       capture_output=True, input=b"caf\xe9 task\n", timeout=30)
    out = subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(),
                                      r.stderr.decode())
    assert "not UTF-8 text" in _assert_usage_error(out)


def test_dotenv_writable_by_others_is_refused(tmp_path: Path, cwd: Path, tools: Path) -> None:
    env_file = cwd / ".env"
    env_file.write_text("OPENROUTER_MODEL=m/x\n")
    env_file.chmod(0o666)
    r = _run([], cwd, _env(tmp_path, str(tools), OPENROUTER_API_KEY=FAKE_KEY))
    assert "chmod go-w" in _assert_usage_error(r)


@pytest.mark.skipif(os.getuid() != 0, reason="giving a file to another uid needs root (CI "
                    "runs as root, so this runs there)")
def test_dotenv_of_another_user_is_refused(tmp_path: Path, cwd: Path, tools: Path) -> None:
    env_file = cwd / ".env"
    env_file.write_text("OPENROUTER_MODEL=m/x\n")
    os.chown(env_file, 65534, -1)
    r = _run([], cwd, _env(tmp_path, str(tools), OPENROUTER_API_KEY=FAKE_KEY))
    assert "belongs to uid 65534" in _assert_usage_error(r)


# ----------------------------------------------------------------------------- odd inputs
def test_dotenv_not_utf8(tmp_path: Path, cwd: Path, tools: Path) -> None:
    (cwd / ".env").write_bytes(b"OPENROUTER_MODEL=caf\xe9\n")
    r = _run([], cwd, _env(tmp_path, str(tools), OPENROUTER_API_KEY=FAKE_KEY))
    assert "not UTF-8" in _assert_usage_error(r)


@pytest.mark.parametrize("value", ["99999999999999d", "1e400", "400d"])
def test_overflowing_duration(value: str, tmp_path: Path, cwd: Path, tools: Path) -> None:
    r = _run(["--max-time", value], cwd, _env(tmp_path, str(tools), OPENROUTER_API_KEY=FAKE_KEY))
    assert "--max-time" in _assert_usage_error(r)


def test_task_file_from_a_pipe_is_accepted(tmp_path: Path, cwd: Path, tools: Path) -> None:
    """`--task-file <(...)` names a pipe: not refused as missing (the run then stops at the
    missing key, the next check)."""
    fifo = tmp_path / "task.fifo"
    os.mkfifo(fifo)
    r = _run(["--task-file", str(fifo)], cwd, _env(tmp_path, str(tools)))
    assert "OPENROUTER_API_KEY" in _assert_usage_error(r)


def test_runs_with_a_typo_in_the_folder_creates_nothing(tmp_path: Path, cwd: Path,
                                                        tools: Path) -> None:
    r = _run(["runs", "--runlog", str(tmp_path / "typo" / "x.sqlite3")], cwd,
             _env(tmp_path, str(tools)))
    assert r.returncode == 0 and "no runs recorded yet" in r.stdout
    assert not (tmp_path / "typo").exists()


def test_corrupt_and_newer_run_logs_give_one_line(tmp_path: Path, cwd: Path,
                                                  tools: Path) -> None:
    import sqlite3

    corrupt = tmp_path / "corrupt.sqlite3"
    corrupt.write_bytes(b"this is not a database at all" * 100)
    r = _run(["runs", "--runlog", str(corrupt)], cwd, _env(tmp_path, str(tools)))
    assert "unusable" in _assert_usage_error(r)
    newer = tmp_path / "newer.sqlite3"
    with sqlite3.connect(newer) as db:
        db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
        db.execute("INSERT INTO _migrations VALUES ('m999_from_the_future', 'x')")
    r = _run(["show", "x", "--runlog", str(newer)], cwd, _env(tmp_path, str(tools)))
    assert "newer claude-orchestrator" in _assert_usage_error(r)


@pytest.mark.skipif(os.getuid() != 0, reason="a log only another uid may write needs root to "
                    "set up (CI runs as root, so this runs there)")
def test_a_read_only_run_log_lists_and_refuses_a_run_in_one_line() -> None:
    """Read by a user who may not write it (root can write anything, so the reader is
    `nobody`): `runs` lists it, a run stops with one line, exit 2."""
    from claude_orchestrator.runlog import RunLog

    world = Path(tempfile.mkdtemp())  # pytest's own folders are closed to other users
    try:
        world.chmod(0o755)
        path = world / "runs.sqlite3"
        with RunLog(path) as log:
            log.start_run(mode="chat", task="", workdir="/w", model=None, session=None,
                          socket=None, settings={})
        os.chmod(path, 0o644)
        tools = world / "bin"
        tools.mkdir(mode=0o755)
        script(tools, "tmux", "exit 1")
        script(tools, "claude", "exit 1")
        home = world / "home"
        home.mkdir()
        os.chown(home, 65534, 65534)
        env = _env(world, str(tools), CLAUDE_ORCHESTRATOR_RUNLOG=str(path), HOME=str(home),
                   XDG_RUNTIME_DIR="")
        setpriv = shutil.which("setpriv")
        assert setpriv is not None, "setpriv (util-linux) runs a command as another uid"
        cli = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable,
               "-m", "claude_orchestrator"]
        listed = subprocess.run([*cli, "runs"], cwd=home, env=env, capture_output=True,
                                text=True, timeout=30)
        assert listed.returncode == 0, listed.stderr
        assert "chat" in listed.stdout
        run = subprocess.run([*cli, "--chat"], cwd=home, env=env, capture_output=True,
                             text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert "read-only" in _assert_usage_error(run)
    finally:
        shutil.rmtree(world, ignore_errors=True)


def test_resume_of_a_run_whose_pid_was_reused_needs_force(tmp_path: Path, cwd: Path,
                                                          tools: Path) -> None:
    """The run's recorded process id now belongs to another program (here: this test): resume
    says so and how to go on; with --force it goes on (to the next check: the missing key)."""
    from claude_orchestrator.runlog import RunLog

    db = tmp_path / "runs.sqlite3"
    with RunLog(db) as log:
        run = log.start_run(mode="autonomous", task="t", workdir=str(cwd), model="m/x",
                            session=None, socket=None, settings={})
        log._update_run(run.id, "pid = ?", (os.getpid(),))
    env = _env(tmp_path, str(tools), CLAUDE_ORCHESTRATOR_RUNLOG=str(db))
    refused = _assert_usage_error(_run(["resume", run.id], cwd, env))
    assert "still running" in refused and f"resume {run.id} --force" in refused
    forced = _assert_usage_error(_run(["resume", run.id, "--force"], cwd, env))
    assert "OPENROUTER_API_KEY" in forced


def test_a_tmux_failure_is_one_line_with_the_runtime_status(tmp_path: Path, cwd: Path,
                                                            tools: Path) -> None:
    """TmuxError is an OrchestratorError: a tmux command that fails surfaces as the one line
    tmux gave, exit 1 (it used to be "TmuxError: ..." through the catch-all)."""
    from claude_orchestrator.drivers.lifecycle import outcome_of
    from claude_orchestrator.errors import OrchestratorError
    from claude_orchestrator.runtime.tmux import TmuxError

    failure = TmuxError("tmux send-keys failed: no server running on /tmp/tmux-0/x")
    assert isinstance(failure, OrchestratorError) and failure.exit_status == 1
    outcome = outcome_of(failure, "r1")
    assert (outcome.status, outcome.exit_code, outcome.message) == ("failed", 1, str(failure))
    code = ("import sys\n"
            "from claude_orchestrator import cli\n"
            "from claude_orchestrator.runtime.tmux import TmuxError\n"
            "def fail(*args):\n"
            "    raise TmuxError('tmux send-keys failed: no server running on /tmp/tmux-0/x')\n"
            "cli._run = fail\n"
            "sys.exit(cli.main(['--chat']))\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=_env(tmp_path, str(tools)),
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
                       check=False)
    assert "Traceback" not in r.stderr and r.returncode == 1, (r.returncode, r.stderr)
    assert r.stderr.strip().split("\n") == [
        "claude-orchestrator: error: tmux send-keys failed: no server running on /tmp/tmux-0/x"]
