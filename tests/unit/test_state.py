"""runtime/state.py: runtime state in a private folder that another local user can neither read
nor plant things in. The second user is a real other uid (the tests run as root in CI: they
hand folders to `nobody`); as an ordinary user they say why they cannot."""

from __future__ import annotations

import os
import pwd
import stat
import threading
import time
from pathlib import Path

import pytest

from claude_orchestrator.runtime.state import (
    UnsafeState,
    lock_path,
    private_dir,
    remove_dir,
    session_dir,
    state_root,
    tmux_socket_path,
    write_private,
)

IS_ROOT = os.getuid() == 0
OTHER_UID = pwd.getpwnam("nobody").pw_uid
needs_root = pytest.mark.skipif(not IS_ROOT, reason="handing a folder to another uid needs root "
                                "(CI runs as root, so these run there)")


def test_xdg_runtime_dir_is_used_when_sound(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    root = state_root({"XDG_RUNTIME_DIR": str(run), "HOME": str(tmp_path / "home")})
    assert root == run / "claude-orchestrator"
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


def test_without_xdg_runtime_dir_the_cache_folder_never_the_shared_temp(tmp_path: Path) -> None:
    root = state_root({"HOME": str(tmp_path / "home")})
    assert root == tmp_path / "home" / ".cache" / "claude-orchestrator" / "run"
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert not str(root).startswith("/tmp/claude")


def test_an_open_xdg_runtime_dir_is_not_trusted(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    run.chmod(0o777)
    root = state_root({"XDG_RUNTIME_DIR": str(run), "HOME": str(tmp_path / "home")})
    assert root == tmp_path / "home" / ".cache" / "claude-orchestrator" / "run"
    assert not (run / "claude-orchestrator").exists()


@needs_root
def test_an_xdg_runtime_dir_of_another_user_is_not_trusted(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    os.chown(run, OTHER_UID, -1)
    root = state_root({"XDG_RUNTIME_DIR": str(run), "HOME": str(tmp_path / "home")})
    assert root.is_relative_to(tmp_path / "home")


@needs_root
def test_a_folder_another_user_made_first_is_refused(tmp_path: Path) -> None:
    """Another user creates the folder before us (to read prompts, plant a settings file)."""
    planted = tmp_path / "home" / ".cache" / "claude-orchestrator" / "run"
    planted.mkdir(parents=True, mode=0o700)
    os.chown(planted, OTHER_UID, -1)
    with pytest.raises(UnsafeState, match="belongs to uid"):
        state_root({"HOME": str(tmp_path / "home")})


def test_a_folder_open_to_others_is_refused_with_the_fix(tmp_path: Path) -> None:
    folder = tmp_path / "open"
    folder.mkdir()
    folder.chmod(0o755)
    with pytest.raises(UnsafeState, match="chmod 700"):
        private_dir(folder)


def test_a_link_in_place_of_a_folder_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(UnsafeState, match="not a directory"):
        private_dir(tmp_path / "link")


def test_files_are_never_written_through_a_planted_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    folder = private_dir(tmp_path / "state")
    (folder / "exit-status").symlink_to(victim)
    write_private(folder / "exit-status", b"0")
    assert victim.read_text() == "precious"
    assert (folder / "exit-status").read_bytes() == b"0"
    assert stat.S_IMODE((folder / "exit-status").lstat().st_mode) == 0o600


def test_session_folders_and_their_removal(tmp_path: Path) -> None:
    root = private_dir(tmp_path / "root")
    one = session_dir(root, "sock", "one")
    two = session_dir(root, "sock", "two")
    assert one != two and one.parent == root
    write_private(one / "events.jsonl", b"{}\n")
    write_private(one / "pane-env", b"export A=1\n")
    remove_dir(one, keep=("events.jsonl",))
    assert [p.name for p in one.iterdir()] == ["events.jsonl"]
    remove_dir(two)
    assert not two.exists()


def test_the_lock_is_keyed_to_the_socket_not_to_the_runtime_folder(tmp_path: Path) -> None:
    tmpdir = tmp_path / "tmux"
    tmpdir.mkdir()
    one = lock_path("sock", "s", {"TMUX_TMPDIR": str(tmpdir), "XDG_RUNTIME_DIR": "/a"})
    two = lock_path("sock", "s", {"TMUX_TMPDIR": str(tmpdir), "XDG_RUNTIME_DIR": "/b"})
    assert one == two and one.parent == tmpdir / f"tmux-{os.getuid()}"
    assert lock_path("sock", "other", {"TMUX_TMPDIR": str(tmpdir)}) != one
    assert tmux_socket_path("sock", {"TMUX_TMPDIR": str(tmpdir)}) == one.parent / "sock"
    assert stat.S_IMODE(one.parent.stat().st_mode) == 0o700


# ----------------------------------------------------------------------------- issue 17, 7
def test_every_folder_made_is_0700_whatever_the_umask(tmp_path: Path) -> None:
    before = os.umask(0)
    try:
        root = state_root({"HOME": str(tmp_path / "home")})
    finally:
        os.umask(before)
    for folder in (root, root.parent, root.parent.parent):  # run/, claude-orchestrator/, .cache/
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_a_parent_others_may_write_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".cache").mkdir(parents=True)
    (home / ".cache").chmod(0o777)
    with pytest.raises(UnsafeState, match=r"others may write .*\.cache above it"):
        state_root({"HOME": str(home)})


def test_a_sticky_shared_parent_is_fine_when_what_it_holds_is_ours(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    assert private_dir(shared / "mine").is_dir()


@needs_root
def test_a_parent_of_another_user_is_refused(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, OTHER_UID, -1)
    with pytest.raises(UnsafeState, match=f"belongs to uid {OTHER_UID}"):
        private_dir(theirs / "state")


def test_an_unwritable_home_is_one_true_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o500)
    if os.access(home, os.W_OK):  # root writes anywhere: test through a file in the way
        home.chmod(0o700)
        (home / ".cache").write_text("a file where the folder goes")
    with pytest.raises(UnsafeState, match=r"cannot make .*\(is HOME writable\?"):
        state_root({"HOME": str(home)})


def test_the_lock_file_goes_with_its_holder(tmp_path: Path) -> None:
    from claude_orchestrator.errors import SessionBusy
    from claude_orchestrator.runtime.lock import lock_session, unlock_session

    path = private_dir(tmp_path / "tmux") / "x.lock"
    fd = lock_session(path)
    with pytest.raises(SessionBusy):
        lock_session(path)
    unlock_session(fd, path)
    assert not path.exists()
    again = lock_session(path)  # a fresh file, a fresh lock
    unlock_session(again, path)


def test_held_signals_are_delivered_later_never_lost() -> None:
    """Issue 17, Low: a signal between writing a run's row and being ready to record its end
    waits (drivers/lifecycle.py `held_signals`) instead of leaving the row `running`."""
    import signal

    from claude_orchestrator.drivers.lifecycle import held_signals, release_signals

    got: list[int] = []
    handler = lambda signum, frame: got.append(signum)  # noqa: E731
    before = signal.signal(signal.SIGTERM, handler)
    # Another thread alive, as a PostgreSQL pool's or the usage collector's is in a run: the
    # kernel may hand the process's signal to it (a signal mask, per thread, held nothing then).
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        for _ in range(20):
            with held_signals():
                os.kill(os.getpid(), signal.SIGTERM)
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.001)
                assert got == []
                release_signals()
                assert got == [signal.SIGTERM]  # once: the first is the request
                assert signal.getsignal(signal.SIGTERM) is handler
            got.clear()
    finally:
        stop.set()
        signal.signal(signal.SIGTERM, before)
