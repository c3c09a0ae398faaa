"""What the web tests share: one headless Chromium for the whole test session (Debian's, driven
by Playwright: nothing is downloaded), `serve` as a subprocess on a free port, and a folder per
test for its screenshots (`test-output/<test>/`, git-ignored) so a person can look at them."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"
CHROMIUM_ARGS = ["--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-gpu",
                 "--disable-dev-shm-usage"]


def chromium_path() -> str:
    """Debian's Chromium (CO_TEST_CHROMIUM names another); the tests fail, never skip,
    without it."""
    found = os.environ.get("CO_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).exists():
        pytest.fail("Chromium is not installed: apt-get install chromium (the web tests drive "
                    "Debian's Chromium headless; nothing is downloaded)", pytrace=False)
    return found


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One browser for every web test of the session."""
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    args = [*CHROMIUM_ARGS, *(["--no-sandbox"] if os.geteuid() == 0 else [])]
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), headless=True, args=args)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    """This test's screenshot folder (emptied first)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:120]
    folder = OUTPUT / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


class Serve:
    """`claude-orchestrator serve` on a free port; `url` once it listens."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "claude_orchestrator", "serve", "--port", "0", *args],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        found = re.search(r"at (http://\S+/) ", line)
        if found is None:
            self.proc.kill()
            raise AssertionError(f"serve did not start: {line}{self.proc.stderr.read()}")
        self.url = found.group(1)
        self.login = ""
        if "--token-file" in args:
            link = self.proc.stdout.readline()
            self.login = link.split(": ", 1)[1].strip()

    def stop(self) -> str:
        """Stop it (SIGTERM, as Ctrl-C would); what it wrote on stderr."""
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err


@contextlib.contextmanager
def serving(env: dict[str, str], *args: str) -> Iterator[Serve]:
    server = Serve(env, *args)
    try:
        yield server
    finally:
        server.stop()
