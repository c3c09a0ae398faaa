"""A batch's tasks: a TOML file of `[[task]]` tables, or one task per line on stdin.

    model = "anthropic/claude-sonnet-4.5"    # top level: every task's default
    max_cost = 5

    [[task]]
    task = "Add a --verbose flag"
    workdir = "~/src/project"                # relative paths: from the file's folder
    verify = "pytest -q"

    [[task]]
    task_file = "tasks/docs.md"
    max_time = "2h"

A task's keys are `task` or `task_file`, `workdir`, and any setting by its flag's name
(`max_cost`, `max-time`, `verify`, `agent`...). Which wins: the task's own table, then the
command line's flags, then the file's top level, then the environment, then the defaults.

A tasks file can come with a cloned repository (SECURITY.md): it is read only when it is a
regular file of the user's, writable by no one else; it never says where the key goes
(`base_url`, `api_key_file`: the person's environment or flags do); and when it lies in a git
work tree, it runs no command of its own (`claude_cmd`, `verify`) and reads no `task_file`
outside its folder unless the person confirms it with `--trust-tasks-file`.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from claude_orchestrator.config import BY_DEST
from claude_orchestrator.errors import UsageError
from claude_orchestrator.trust import in_git_work_tree, open_own_file

# Settings a batch decides for every run (each its own session on the batch's socket, one log).
BATCH_OWNED = frozenset({"session", "socket", "runlog", "autonomous"})
# Where the key goes: only the person's environment or flags say (a tasks file holds no key).
KEY_DIRECTIONS = frozenset({"base_url", "api_key_file"})
# Commands run as the person: from a file that may not be theirs, only when they confirm it.
COMMANDS = ("claude_cmd", "verify")
CONFIRM = "--trust-tasks-file"
# Where the runs execute and where their code goes (the batch's own, top level only): they
# send the tasks to a cluster, the code to a git remote.
EXECUTOR_KEYS = frozenset({"executor", "ray_address", "ray_env", "ray_command", "git_remote"})


@dataclass(frozen=True)
class BatchTask:
    """One task of a batch, before it is a run."""

    number: int  # 1-based, as the person counts them in the file
    task: str
    workdir: Path | None  # None: the batch's
    settings: Mapping[str, object] = field(default_factory=dict)  # the task's own table


def _settings(table: Mapping[str, object], where: str, trusted: bool) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in table.items():
        dest = key.replace("-", "_")
        if dest in KEY_DIRECTIONS:
            raise UsageError(f"{where}: `{key}` is refused: only your environment or flags say "
                             f"where the supervisor's key goes (--{dest.replace('_', '-')} or "
                             f"{BY_DEST[dest].env})")
        if dest in COMMANDS and not trusted:
            raise UsageError(f"{where}: `{key} = {value!r}` would run as you, and the file lies "
                             f"in a git work tree (it may have come with a clone): read it, then "
                             f"run again with {CONFIRM}")
        if dest in EXECUTOR_KEYS:
            if not where.endswith("(top level)"):
                raise UsageError(f"{where}: `{key}` is the batch's: put it at the top of the "
                                 "file")
            if not trusted:
                raise UsageError(f"{where}: `{key}` would send your tasks or code (or run a "
                                 f"command) where the file says, and the file lies in a git "
                                 f"work tree (it may have come with a clone): give "
                                 f"--{key.replace('_', '-')} yourself, or run again with "
                                 f"{CONFIRM}")
            if dest == "ray_env" and isinstance(value, list):
                value = ",".join(str(v) for v in value)
            if not isinstance(value, str):
                raise UsageError(f"{where}: `{key}` must be a string")
            out[dest] = value
            continue
        if dest in BATCH_OWNED:
            raise UsageError(f"{where}: `{key}` is decided by the batch (each task gets its own "
                             "tmux session on one socket and one run log)")
        if dest not in BY_DEST:
            raise UsageError(f"{where}: unknown key `{key}` (a task takes task, task_file, "
                             "workdir and the settings, e.g. verify, max_cost, agent)")
        if dest == "notify" and not where.endswith("(top level)"):
            raise UsageError(f"{where}: `notify` is the batch's (one summary at its end, and "
                             "each run that needs you): put it at the top of the file")
        if dest == "notify" and not trusted:
            raise UsageError(f"{where}: `notify` would send your runs' facts to a URL the file "
                             f"names, and the file lies in a git work tree (it may have come "
                             f"with a clone): give --notify yourself, or run again with "
                             f"{CONFIRM}")
        if dest == "notify" and isinstance(value, list) and all(
                isinstance(v, str) for v in value):
            out[dest] = value
            continue
        if isinstance(value, (dict, list)):
            raise UsageError(f"{where}: `{key}` must be a string, number or boolean")
        out[dest] = value
    return out


def _path(value: object, base: Path, where: str) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{where} must be a folder's path (a non-empty string)")
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def read_task_file(path: Path, base: Path, where: str, trusted: bool) -> str:
    """A task's text from `task_file`: a regular file (a FIFO would hang the batch, a link is
    not followed), not another user's when running as root, and inside the tasks file's folder
    `base` unless the tasks file is trusted (a cloned one must not send ~/.ssh/id_rsa to the
    supervisor as a task)."""
    if not trusted:
        real, folder = os.path.realpath(path), os.path.realpath(base)
        if os.path.commonpath([real, folder]) != folder:
            raise UsageError(f"{where}: task_file {path} is outside the tasks file's folder, "
                             f"which lies in a git work tree: read it, then run again with "
                             f"{CONFIRM}")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as e:
        reason = "it is a link" if e.errno == errno.ELOOP else e.strerror
        raise UsageError(f"{where}: cannot read task_file {path}: {reason}") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # a FIFO would hang the batch
            raise UsageError(f"{where}: task_file {path} is not a regular file")
        if os.geteuid() == 0 and info.st_uid != 0:
            raise UsageError(f"{where}: task_file {path} belongs to uid {info.st_uid}; run as "
                             "root, a batch reads only root's own files")
        try:
            return f.read().decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"{where}: task_file {path} is not UTF-8 text") from None
        except OSError as e:
            raise UsageError(f"{where}: cannot read task_file {path}: {e.strerror}") from None


def parse_toml(text: str, base: Path, name: str = "tasks file", *,
               trusted: bool = True) -> tuple[dict[str, object], list[BatchTask]]:
    """The file's top-level settings and its tasks (relative paths taken from `base`).
    `trusted`: the person wrote the file, or confirmed it (see the module's note)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{name} is not valid TOML: {e}") from None
    tables = doc.pop("task", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise UsageError(f"{name}: tasks are [[task]] tables")
    top = _settings(doc, f"{name} (top level)", trusted)
    tasks = []
    for number, table in enumerate(tables, 1):
        where = f"{name}: task {number}"
        table = dict(table)
        text_ = table.pop("task", None)
        task_file = table.pop("task_file", table.pop("task-file", None))
        if (text_ is None) == (task_file is None):
            raise UsageError(f"{where} needs exactly one of `task` and `task_file`")
        if task_file is not None:
            path = _path(task_file, base, f"{where}: task_file")
            text_ = read_task_file(path, base, where, trusted)
        if not isinstance(text_, str) or not text_.strip():
            raise UsageError(f"{where}: the task is empty")
        workdir = table.pop("workdir", None)
        tasks.append(BatchTask(number, text_.strip(),
                               None if workdir is None else _path(workdir, base,
                                                                  f"{where}: workdir"),
                               _settings(table, where, trusted)))
    if not tasks:
        raise UsageError(f"{name} has no [[task]] table")
    return top, tasks


def parse_lines(text: str) -> list[BatchTask]:
    """One task per non-blank line (stdin's `-`)."""
    tasks = [BatchTask(n, line.strip(), None)
             for n, line in enumerate((ln for ln in text.splitlines() if ln.strip()), 1)]
    if not tasks:
        raise UsageError("no task on stdin (one task per line)")
    return tasks


def load_tasks(source: str, stdin_text: str | None = None, *,
               confirmed: bool = False) -> tuple[dict[str, object], list[BatchTask]]:
    """TASKS as the command line names it: a TOML file, or `-` (the text of stdin). The file
    must be the user's own; it is trusted (its commands run) when it lies outside any git work
    tree, or when the person `confirmed` it."""
    if source == "-":
        return {}, parse_lines(stdin_text if stdin_text is not None else sys.stdin.read())
    path = Path(source).expanduser()
    try:
        text = open_own_file(path, "the tasks file").decode("utf-8")
    except FileNotFoundError:
        raise UsageError(f"cannot read the tasks file {source}: no such file") from None
    except UnicodeDecodeError:
        raise UsageError(f"the tasks file {source} is not UTF-8 text") from None
    trusted = confirmed or not in_git_work_tree(path)
    return parse_toml(text, path.resolve().parent, source, trusted=trusted)


def file_commands(top: Mapping[str, object], tasks: list[BatchTask]) -> list[str]:
    """The commands a tasks file sets (`claude_cmd`, `verify`), as the start-up line names
    them: `verify 'pytest -q' (task 1)`."""
    found = [f"{k} {v!r} (top level)" for k, v in top.items() if k in COMMANDS]
    found += [f"{k} {v!r} (task {t.number})" for t in tasks for k, v in t.settings.items()
              if k in COMMANDS]
    return found
