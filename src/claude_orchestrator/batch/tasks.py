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
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from claude_orchestrator.config import BY_DEST
from claude_orchestrator.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

# Settings a batch decides for every run (each its own session on the batch's socket, one log).
BATCH_OWNED = frozenset({"session", "socket", "runlog", "autonomous"})


@dataclass(frozen=True)
class BatchTask:
    """One task of a batch, before it is a run."""

    number: int  # 1-based, as the person counts them in the file
    task: str
    workdir: Path | None  # None: the batch's
    settings: Mapping[str, object] = field(default_factory=dict)  # the task's own table


def _settings(table: Mapping[str, object], where: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in table.items():
        dest = key.replace("-", "_")
        if dest in BATCH_OWNED:
            raise UsageError(f"{where}: `{key}` is decided by the batch (each task gets its own "
                             "tmux session on one socket and one run log)")
        if dest not in BY_DEST:
            raise UsageError(f"{where}: unknown key `{key}` (a task takes task, task_file, "
                             "workdir and the settings, e.g. verify, max_cost, agent)")
        if isinstance(value, (dict, list)):
            raise UsageError(f"{where}: `{key}` must be a string, number or boolean")
        out[dest] = value
    return out


def _path(value: object, base: Path, where: str) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{where} must be a folder's path (a non-empty string)")
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def parse_toml(text: str, base: Path, name: str = "tasks file") -> tuple[dict[str, object],
                                                                        list[BatchTask]]:
    """The file's top-level settings and its tasks (relative paths taken from `base`)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{name} is not valid TOML: {e}") from None
    tables = doc.pop("task", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise UsageError(f"{name}: tasks are [[task]] tables")
    top = _settings(doc, f"{name} (top level)")
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
            try:
                text_ = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise UsageError(f"{where}: cannot read task_file {path}: "
                                 f"{getattr(e, 'strerror', None) or e}") from None
        if not isinstance(text_, str) or not text_.strip():
            raise UsageError(f"{where}: the task is empty")
        workdir = table.pop("workdir", None)
        tasks.append(BatchTask(number, text_.strip(),
                               None if workdir is None else _path(workdir, base,
                                                                  f"{where}: workdir"),
                               _settings(table, where)))
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


def load_tasks(source: str, stdin_text: str | None = None) -> tuple[dict[str, object],
                                                                   list[BatchTask]]:
    """TASKS as the command line names it: a TOML file, or `-` (the text of stdin)."""
    if source == "-":
        return {}, parse_lines(stdin_text if stdin_text is not None else sys.stdin.read())
    path = Path(source).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read the tasks file {source}: "
                         f"{getattr(e, 'strerror', None) or e}") from None
    return parse_toml(text, path.resolve().parent, source)
