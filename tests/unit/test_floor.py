"""The supported Python range is stated once, in pyproject's `requires-python`: the linters'
targets, the README and the interpreter running the tests must agree with it, so the floor
cannot drift from what the code is checked against (mypy would accept 3.12-only code with a
3.12 target while pip still promised 3.11)."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def floor() -> tuple[int, int]:
    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    match = re.fullmatch(r">=(\d+)\.(\d+)", spec)
    assert match, f"requires-python should be one floor (>=X.Y), not {spec!r}"
    return int(match[1]), int(match[2])


def test_the_linters_check_the_code_against_the_floor() -> None:
    tools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    major, minor = floor()
    assert tools["ruff"]["target-version"] == f"py{major}{minor}"
    assert tools["mypy"]["python_version"] == f"{major}.{minor}"


def test_the_readme_states_the_same_floor() -> None:
    major, minor = floor()
    stated = re.findall(r"Python (\d+\.\d+) or newer", (ROOT / "README.md").read_text())
    assert stated == [f"{major}.{minor}"]


def test_the_tests_run_on_a_supported_python() -> None:
    assert sys.version_info[:2] >= floor()
