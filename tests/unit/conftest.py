"""Shared fixtures of the unit tests."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.drive_sim import close_all


def script(folder: Path, name: str, body: str = "exit 0") -> Path:
    p = folder / name
    p.write_text(f"#!/bin/sh\n{body}\n")
    p.chmod(p.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return p


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    d = tmp_path / "cwd"
    d.mkdir()
    return d


@pytest.fixture
def tools(tmp_path: Path) -> Path:
    """A PATH folder with a fake tmux and a fake claude (neither is ever run by these tests:
    a run that got as far as starting them would fail the test by its exit status)."""
    d = tmp_path / "bin"
    d.mkdir()
    script(d, "tmux", "exit 1")
    script(d, "claude", "exit 1")
    return d


@pytest.fixture(autouse=True)
def _no_driver_outlives_its_test() -> Iterator[None]:
    """A turn driver the test left waiting (tests/unit/drive_sim.py) is ended."""
    yield
    close_all()
