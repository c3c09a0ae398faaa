"""Settings: environment, `.env` file and command-line flags, validated into one frozen `Config`.

Every setting has a flag and an environment variable; flags beat the environment, the environment
beats `.env`, and `.env` beats the defaults. The seed's eight variables keep their names and
defaults.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from claude_orchestrator.errors import ConfigError
from claude_orchestrator.process import SECRET_ENV, child_environ, secret_names
from claude_orchestrator.secrets import shown_notify_url
from claude_orchestrator.trust import (
    check_key_direction,
    is_runlog_url,
    is_safe_url,
    runlog_password,
    shown_runlog,
    shown_url,
)

DEFAULT_SESSION = "gt-claude-loop"
DEFAULT_SOCKET = "gt-claude-loop"
DEFAULT_CLAUDE_CMD = "claude --dangerously-skip-permissions --setting-sources user"
DEFAULT_MODEL = "anthropic/claude-opus-4.6"
DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f", ""}
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SOCKET_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


@dataclass(frozen=True)
class Setting:
    """One setting: its flag, its environment variable, its default and what it means."""

    dest: str
    flag: str
    env: str
    default: str
    help: str
    kind: str = "str"  # str | bool | int | float | duration | path


SETTINGS: tuple[Setting, ...] = (
    Setting("session", "--session", "CLAUDE_TMUX_SESSION", DEFAULT_SESSION, "tmux session name"),
    Setting("socket", "--socket", "CLAUDE_TMUX_SOCKET", DEFAULT_SOCKET,
            "tmux socket name (a private tmux server, apart from yours)"),
    Setting("claude_cmd", "--claude-cmd", "CLAUDE_CMD", DEFAULT_CLAUDE_CMD,
            "command run in the tmux pane, parsed like a shell command"),
    Setting("terminate_when_quit", "--terminate-when-quit", "TERMINATE_WHEN_QUIT", "false",
            "kill the tmux session (and the server when it was the last) on the way out",
            "bool"),
    Setting("autonomous", "--autonomous", "AUTONOMOUS_MODE", "true",
            "true: a supervisor LLM drives Claude; false: chat mode (you type)", "bool"),
    Setting("model", "--model", "OPENROUTER_MODEL", DEFAULT_MODEL, "supervisor model"),
    Setting("base_url", "--base-url", "OPENROUTER_BASE_URL", DEFAULT_BASE_URL,
            "OpenAI-compatible API base URL of the supervisor"),
    Setting("api_key_file", "--api-key-file", "OPENROUTER_API_KEY_FILE", "",
            "read the supervisor API key from this file (the key itself is taken only from "
            "OPENROUTER_API_KEY, never from a flag, so it cannot show in `ps`)", "path"),
    Setting("max_iterations", "--max-iterations", "MAX_ITERATIONS", "0",
            "stop after this many supervisor turns (0 = unlimited)", "int"),
    Setting("max_cost", "--max-cost", "CLAUDE_ORCHESTRATOR_MAX_COST", "0",
            "stop when the run has cost this many USD: the supervisor's calls plus Claude's "
            "tokens, an estimate (0 = unlimited)", "float"),
    Setting("max_time", "--max-time", "CLAUDE_ORCHESTRATOR_MAX_TIME", "0",
            "stop after this long, e.g. 90m or 2h (0 = unlimited)", "duration"),
    Setting("agent", "--agent", "CLAUDE_ORCHESTRATOR_AGENT", "auto",
            "agent profile: auto (by the command's name: claude, codex or gemini; else "
            "generic), claude, codex, gemini, generic"),
    Setting("resume_on_crash", "--resume-on-crash", "CLAUDE_ORCHESTRATOR_RESUME_ON_CRASH", "true",
            "restart a crashed Claude with --resume <session id> to keep the conversation",
            "bool"),
    Setting("accept_api_key", "--accept-api-key", "CLAUDE_ORCHESTRATOR_ACCEPT_API_KEY", "false",
            "answer yes when Claude asks whether to use ANTHROPIC_API_KEY from the environment",
            "bool"),
    Setting("withhold_env", "--withhold-env", "CLAUDE_ORCHESTRATOR_WITHHOLD_ENV", "",
            "comma-separated variables kept from Claude's environment (OPENROUTER_API_KEY "
            "always is)"),
    Setting("stable_window", "--stable-window", "CLAUDE_ORCHESTRATOR_STABLE_WINDOW", "0.3",
            "screen path: a turn ends when the screen stays unchanged this long", "duration"),
    Setting("idle_timeout", "--idle-timeout", "CLAUDE_ORCHESTRATOR_IDLE_TIMEOUT", "15m",
            "give up on a turn when the screen shows no change at all for this long",
            "duration"),
    Setting("startup_timeout", "--startup-timeout", "CLAUDE_ORCHESTRATOR_STARTUP_TIMEOUT", "60",
            "how long the agent may take to reach its prompt", "duration"),
    Setting("supervisor_retries", "--supervisor-retries",
            "CLAUDE_ORCHESTRATOR_SUPERVISOR_RETRIES", "6",
            "retries of a failed supervisor call (429, 5xx, timeouts), with backoff", "int"),
    Setting("supervisor_timeout", "--supervisor-timeout",
            "CLAUDE_ORCHESTRATOR_SUPERVISOR_TIMEOUT", "120",
            "how long one supervisor call may take", "duration"),
    Setting("context_tokens", "--context-tokens", "CLAUDE_ORCHESTRATOR_CONTEXT_TOKENS", "60000",
            "token budget of the supervisor's history (oldest turns are dropped first)", "int"),
    Setting("reply_limit", "--reply-limit", "CLAUDE_ORCHESTRATOR_REPLY_LIMIT", "12000",
            "characters of one Claude reply the supervisor sees (middle trimmed)", "int"),
    Setting("runlog", "--runlog", "CLAUDE_ORCHESTRATOR_RUNLOG", "",
            "the run log: a SQLite file (default: in the user's data dir) or a PostgreSQL "
            "database, postgresql://USER@HOST:PORT/DB (needs the postgres extra; its password "
            "in ~/.pgpass or PGPASSWORD, never on the command line)", "path"),
    Setting("max_pause", "--max-pause", "CLAUDE_ORCHESTRATOR_MAX_PAUSE", "6h",
            "longest pause for one usage limit; past it the run stops with 3 (resumable)",
            "duration"),
    Setting("limit_wait", "--limit-wait", "CLAUDE_ORCHESTRATOR_LIMIT_WAIT", "5m",
            "pause for a limit that names no reset time (doubling, to an hour)", "duration"),
    Setting("verify", "--verify", "CLAUDE_ORCHESTRATOR_VERIFY", "",
            "shell command that must pass (exit 0) before TASK_COMPLETE counts"),
    Setting("verify_timeout", "--verify-timeout", "CLAUDE_ORCHESTRATOR_VERIFY_TIMEOUT", "10m",
            "how long the --verify command may run", "duration"),
    Setting("stuck_after", "--stuck-after", "CLAUDE_ORCHESTRATOR_STUCK_AFTER", "3",
            "stop (exit 6) when the same message or reply comes this many times in a row "
            "(0 = never)", "int"),
    Setting("attach_idle", "--attach-idle", "CLAUDE_ORCHESTRATOR_ATTACH_IDLE", "2m",
            "a person at the pane counts as typing until idle this long", "duration"),
    Setting("notify", "--notify", "CLAUDE_ORCHESTRATOR_NOTIFY", "",
            "an Apprise URL to notify when a run ends, needs you, or pauses for a usage limit "
            "(repeatable; the variable takes several, comma-separated; needs the notify extra)",
            "list"),
)
BY_DEST = {s.dest: s for s in SETTINGS}
RUNLOG_HELP = ("the run log: a SQLite file, or postgresql://USER@HOST:PORT/DB (its password in "
               "~/.pgpass or PGPASSWORD) [env CLAUDE_ORCHESTRATOR_RUNLOG]")


@dataclass(frozen=True)
class Config:
    """Validated settings of one invocation."""

    session: str = DEFAULT_SESSION
    socket: str = DEFAULT_SOCKET
    claude_argv: tuple[str, ...] = tuple(shlex.split(DEFAULT_CLAUDE_CMD))
    terminate_when_quit: bool = False
    autonomous: bool = True
    model: str = DEFAULT_MODEL
    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = field(default=None, repr=False)
    api_key_file: Path | None = None
    max_iterations: int = 0
    max_cost: float = 0.0
    max_time: float = 0.0
    agent: str = "auto"
    resume_on_crash: bool = True
    accept_api_key: bool = False
    withhold_env: tuple[str, ...] = (SECRET_ENV,)
    stable_window: float = 0.3
    idle_timeout: float = 900.0
    startup_timeout: float = 60.0
    supervisor_retries: int = 6
    supervisor_timeout: float = 120.0
    context_tokens: int = 60000
    reply_limit: int = 12000
    runlog: Path | str | None = None  # a SQLite file, or a postgresql:// URL
    max_pause: float = 6 * 3600.0
    limit_wait: float = 300.0
    verify: str = ""
    verify_timeout: float = 600.0
    stuck_after: int = 3
    attach_idle: float = 120.0
    notify: tuple[str, ...] = field(default=(), repr=False)  # URLs carry tokens
    workdir: Path = field(default_factory=Path.cwd)
    task: str | None = None
    task_file: Path | None = None
    json_output: bool = False

    def public_settings(self) -> dict[str, object]:
        """Every setting this run began with (the settings table holds no secret: the API key
        is not a setting), as values `settings_environ` turns back into the same Config."""
        out: dict[str, object] = {}
        for s in SETTINGS:
            value = getattr(self, _FIELD.get(s.dest, s.dest))
            if s.dest == "claude_cmd":
                value = shlex.join(value)
            elif s.dest == "withhold_env":
                value = ",".join(v for v in value if v != SECRET_ENV)
            elif s.dest == "base_url":
                value = shown_url(value)  # a password in the URL is a secret: never stored
            elif s.dest == "runlog" and isinstance(value, str):
                value = shown_runlog(value)  # a password is a secret: never stored
            elif s.dest == "notify":  # tokens: stored as scheme://[REDACTED], never restored
                value = ",".join(shown_notify_url(u) for u in value)
            elif isinstance(value, Path):
                value = str(value)
            elif value is None:
                value = ""
            out[s.dest] = value
        out["workdir"] = str(self.workdir)
        return out


_FIELD = {"claude_cmd": "claude_argv"}  # a setting whose Config field has another name


def settings_environ(recorded: Mapping[str, object]) -> dict[str, str]:
    """The environment variables that give a run's recorded settings back (for `resume`: they
    are its defaults; flags still beat them).

    >>> settings_environ({'max_cost': 2.5, 'accept_api_key': True, 'nope': 1})
    {'CLAUDE_ORCHESTRATOR_MAX_COST': '2.5', 'CLAUDE_ORCHESTRATOR_ACCEPT_API_KEY': 'true'}
    """
    out: dict[str, str] = {}
    for key, value in recorded.items():
        setting = BY_DEST.get(key)
        if setting is None or (key == "base_url" and "[REDACTED]@" in str(value)):
            continue  # a URL stored without its password: given again, by env or flag
        if key in ("notify", "runlog"):  # notify: stored redacted; the run log a run is
            continue                     # resumed from is the one it was found in
        out[setting.env] = (("true" if value else "false") if isinstance(value, bool)
                            else str(value))
    return out


def withholding_grows(recorded: Mapping[str, object], given: str | None) -> str | None:
    """`resume --withhold-env X`: the recorded list and X (withholding only grows: a variable
    kept from Claude once is never given to it later).

    >>> withholding_grows({'withhold_env': 'A,B'}, 'C'), withholding_grows({}, None)
    ('A,B,C', None)
    """
    if given is None:
        return None
    before = str(recorded.get("withhold_env") or "")
    return ",".join(part for part in (before, given) if part.strip())


def parse_bool(name: str, value: str) -> bool:
    """`true/false/1/0/yes/no/on/off`, any case; anything else is a ConfigError."""
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {value!r}")


def parse_int(name: str, value: str, minimum: int = 0) -> int:
    try:
        n = int(value.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {value!r}") from None
    if n < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {n}")
    return n


def parse_float(name: str, value: str) -> float:
    try:
        x = float(value.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if x < 0 or x != x or x == float("inf"):
        raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
    return x


MAX_DURATION = 365 * 86400.0


def parse_duration(name: str, value: str) -> float:
    """Seconds from `90`, `1.5s`, `250ms`, `30m`, `2h` or `1d` (at most a year).

    >>> parse_duration('X', '1.5h')
    5400.0
    """
    m = _DURATION_RE.match(value)
    if not m:
        raise ConfigError(f"{name} must be a duration such as 30, 250ms, 90s, 30m or 2h; "
                          f"got {value!r}")
    scale = {"ms": 0.001, "s": 1.0, None: 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}[m.group(2)]
    seconds = float(m.group(1)) * scale
    if seconds > MAX_DURATION:
        raise ConfigError(f"{name} must be at most a year, got {value!r}")
    return seconds


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per setting; booleans also get a `--no-` form. Help names the env var."""
    for s in SETTINGS:
        text = f"{s.help} [env {s.env}, default {s.default or 'none'}]"
        if s.kind == "list":
            parser.add_argument(s.flag, dest=s.dest, default=None, action="append",
                                metavar="URL", help=text)
        elif s.kind == "bool":
            parser.add_argument(s.flag, dest=s.dest, default=None,
                                action=argparse.BooleanOptionalAction, help=text)
        else:
            parser.add_argument(s.flag, dest=s.dest, default=None, metavar=s.dest.upper(),
                                help=text)
    parser.add_argument("--chat", dest="autonomous", action="store_false",
                        help="chat mode: same as --no-autonomous")


def resolve(flags: Mapping[str, object], environ: Mapping[str, str], *,
            workdir: str | None = None, task: str | None = None, task_file: str | None = None,
            json_output: bool = False, from_dotenv: Collection[str] = (),
            read_key: bool = True) -> Config:
    """Turn flags (None = unset) and the environment into a validated Config. `from_dotenv`
    names the variables a `.env` file set (held to stricter rules). Without `read_key` the key
    file is not read here (a batch whose runs read it on their own machines)."""

    def raw(dest: str) -> tuple[str, str]:
        s = BY_DEST[dest]
        value = flags.get(dest)
        if value is not None:
            if isinstance(value, bool):
                return s.flag, "true" if value else "false"
            return s.flag, str(value)
        if environ.get(s.env, "").strip():
            return s.env, environ[s.env]
        return s.env, s.default

    def text(dest: str) -> str:
        return raw(dest)[1]

    def boolean(dest: str) -> bool:
        return parse_bool(*raw(dest))

    def duration(dest: str) -> float:
        return parse_duration(*raw(dest))

    session = text("session")
    if not _NAME_RE.match(session):
        raise ConfigError(f"{raw('session')[0]} must be 1-64 letters, digits, '-' or '_', "
                          f"got {session!r}")
    socket = text("socket")
    if not _SOCKET_RE.match(socket):
        raise ConfigError(f"{raw('socket')[0]} must be 1-64 letters, digits, '.', '-' or '_', "
                          f"got {socket!r}")
    cmd_name, cmd = raw("claude_cmd")
    try:
        argv = tuple(shlex.split(cmd))
    except ValueError as e:
        raise ConfigError(f"{cmd_name} is not a valid command line: {e}") from None
    if not argv:
        raise ConfigError(f"{cmd_name} is empty")
    agent = text("agent").strip().lower()
    if agent not in ("auto", "claude", "codex", "gemini", "generic"):
        raise ConfigError(f"{raw('agent')[0]} must be auto, claude, codex, gemini or generic, "
                          f"got {agent!r}")
    withheld = [SECRET_ENV]
    for name in text("withhold_env").split(","):
        name = name.strip()
        if not name:
            continue
        if not _ENV_NAME_RE.match(name):
            raise ConfigError(f"{raw('withhold_env')[0]}: {name!r} is not a variable name")
        if name not in withheld:
            withheld.append(name)
    api_key = (environ.get(SECRET_ENV) or "").strip() or None
    key_file = text("api_key_file").strip()
    check_key_direction({"base_url": raw("base_url")[0], "api_key_file": raw("api_key_file")[0]},
                        from_dotenv, key_file_in_use=bool(key_file))
    if key_file and read_key:
        try:
            api_key = Path(key_file).expanduser().read_text(encoding="utf-8").strip() or None
        except OSError as e:
            raise ConfigError(f"cannot read the API key file {key_file}: {e.strerror}") from None
    base_url = text("base_url").strip().rstrip("/")
    if not re.match(r"^https?://[^\s/]+", base_url):
        raise ConfigError(f"{raw('base_url')[0]} must be an http(s) URL, "
                          f"got {shown_url(base_url)!r}")
    if raw("base_url")[0] in from_dotenv and not is_safe_url(base_url):
        raise ConfigError(f"OPENROUTER_BASE_URL from ./.env must be https (or http to this "
                          f"machine) before the API key is sent there; got "
                          f"{shown_url(base_url)!r}")
    runlog = runlog_target(*raw("runlog"))
    notify = notify_urls(flags.get("notify"), environ)
    if notify and BY_DEST["notify"].env in from_dotenv and SECRET_ENV not in from_dotenv:
        raise ConfigError("CLAUDE_ORCHESTRATOR_NOTIFY from ./.env is refused: notifications "
                          "carry your runs' facts to that URL, and the .env may have come with "
                          "a clone; give --notify, or set it in your own environment")
    stable = duration("stable_window")
    if stable <= 0:
        raise ConfigError(f"{raw('stable_window')[0]} must be > 0")
    wd = Path(workdir).expanduser() if workdir else Path.cwd()
    if not wd.exists():
        raise ConfigError(f"working directory does not exist: {wd}")
    if not wd.is_dir():
        raise ConfigError(f"working directory is not a directory: {wd}")
    tf = Path(task_file).expanduser() if task_file else None
    if tf is not None and (not tf.exists() or tf.is_dir()):  # a pipe (<(...)) is fine
        raise ConfigError(f"task file not found: {tf}")
    return Config(
        session=session, socket=socket, claude_argv=argv,
        terminate_when_quit=boolean("terminate_when_quit"), autonomous=boolean("autonomous"),
        model=text("model").strip() or DEFAULT_MODEL, base_url=base_url, api_key=api_key,
        api_key_file=Path(key_file).expanduser() if key_file else None,
        max_iterations=parse_int(*raw("max_iterations")),
        max_cost=parse_float(*raw("max_cost")), max_time=duration("max_time"),
        agent=agent, resume_on_crash=boolean("resume_on_crash"),
        accept_api_key=boolean("accept_api_key"), withhold_env=tuple(withheld),
        stable_window=stable, idle_timeout=duration("idle_timeout"),
        startup_timeout=duration("startup_timeout"),
        supervisor_retries=parse_int(*raw("supervisor_retries")),
        supervisor_timeout=duration("supervisor_timeout") or 120.0,
        context_tokens=parse_int(*raw("context_tokens"), minimum=2000),
        reply_limit=parse_int(*raw("reply_limit"), minimum=200),
        runlog=runlog,
        max_pause=duration("max_pause"), limit_wait=duration("limit_wait"),
        verify=text("verify").strip(), verify_timeout=duration("verify_timeout") or 600.0,
        stuck_after=parse_int(*raw("stuck_after")), attach_idle=duration("attach_idle"),
        notify=notify, workdir=wd.resolve(), task=task, task_file=tf, json_output=json_output,
    )


def runlog_target(source: str, text: str | None) -> Path | str | None:
    """What `--runlog` (or CLAUDE_ORCHESTRATOR_RUNLOG, named by `source`) names: a SQLite
    file's path, a PostgreSQL URL, or None for the default file. A password on the command line
    is refused: `ps` shows it to every user of the machine.

    >>> runlog_target('--runlog', 'postgresql://me@db:5432/runs'), runlog_target('X', ' ')
    ('postgresql://me@db:5432/runs', None)
    """
    text = (text or "").strip()
    if not text:
        return None
    if "://" not in text:
        return Path(text).expanduser()
    if not is_runlog_url(text):
        raise ConfigError(f"{source}: a run log is a file or postgresql://USER@HOST:PORT/DB, "
                          f"not {text.split('://', 1)[0]}://...")
    if source.startswith("--") and runlog_password(text):
        raise ConfigError(f"{source} {shown_runlog(text)}: a password on the command line "
                          "shows in `ps` to every user here; put it in ~/.pgpass (or "
                          "PGPASSFILE, PGPASSWORD), or give the whole URL in "
                          "CLAUDE_ORCHESTRATOR_RUNLOG")
    return text


def runlog_secrets(runlog: Path | str | None, environ: Mapping[str, str]) -> list[str]:
    """A PostgreSQL run log's password (in its URL, or PGPASSWORD): kept from every child of
    ours (Claude's pane above all; libpq in this process still reads it), and returned for the
    redactor. A SQLite run log has none."""
    if not isinstance(runlog, str):
        return []
    secret_names(["CLAUDE_ORCHESTRATOR_RUNLOG", "PGPASSWORD"])
    return [runlog_password(runlog), environ.get("PGPASSWORD", "")]


def notify_urls(given: object, environ: Mapping[str, str]) -> tuple[str, ...]:
    """--notify URL (repeated, or a list from a tasks file), else CLAUDE_ORCHESTRATOR_NOTIFY
    (comma-separated); each must look like an Apprise URL (scheme://...).

    >>> notify_urls(None, {'CLAUDE_ORCHESTRATOR_NOTIFY': 'json://h/, ntfy://t'})
    ('json://h/', 'ntfy://t')
    """
    if given is None or given == []:
        raw = [u for u in environ.get(BY_DEST["notify"].env, "").split(",")]
    elif isinstance(given, str):
        raw = given.split(",")
    elif isinstance(given, (list, tuple)):
        raw = [str(u) for u in given]
    else:
        raise ConfigError("--notify takes URLs (strings)")
    urls = tuple(u.strip() for u in raw if u.strip())
    for url in urls:
        if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://\S", url):
            raise ConfigError(f"--notify {shown_notify_url(url)}: not an Apprise URL "
                              "(scheme://..., e.g. ntfy://topic or json://host/path)")
    return urls


def find_executable(argv: Sequence[str], environ: Mapping[str, str]) -> str:
    """The absolute path of the command's executable, or a ConfigError saying how to get it."""
    exe = argv[0]
    found = shutil.which(exe, path=environ.get("PATH", os.defpath))
    if found:
        return found
    if Path(exe).name == "claude":
        raise ConfigError("claude not found on PATH: install it with "
                          "npm install -g @anthropic-ai/claude-code")
    raise ConfigError(f"{exe} not found on PATH (from CLAUDE_CMD)")


def find_tmux(environ: Mapping[str, str]) -> str:
    """tmux's path; 3.2 or newer (control-mode flags and format subscriptions we wait on)."""
    found = shutil.which("tmux", path=environ.get("PATH", os.defpath))
    if not found:
        raise ConfigError("tmux not found on PATH: install it "
                          "(apt install tmux, brew install tmux)")
    try:
        out = subprocess.run([found, "-V"], capture_output=True, text=True, timeout=10,
                             env=child_environ(), stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    m = re.search(r"(\d+)\.(\d+)", out)
    if m and (int(m.group(1)), int(m.group(2))) < (3, 2) and "next" not in out:
        raise ConfigError(f"tmux 3.2 or newer is needed, found {out.strip()} at {found}")
    return found
