"""The agent's live session: start it, get it to its prompt (answering start-up dialogs by
meaning), and bring it back after a crash with the conversation resumed. It also keeps the
ledger of the agent's turns as its hooks report them between turns."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

from claude_orchestrator.agents import Agent, ScreenState, UnknownDialog, select_agent
from claude_orchestrator.agents.base import Dialog
from claude_orchestrator.agents.dialogs import key_toward, ready_for_key
from claude_orchestrator.agents.holders import Holder, free, refused_session
from claude_orchestrator.config import (
    DEFAULT_SESSION,
    DEFAULT_SOCKET,
    Config,
    find_executable,
    find_tmux,
)
from claude_orchestrator.errors import AgentCannotWork, UsageError
from claude_orchestrator.process import secret_names
from claude_orchestrator.progress import Reporter
from claude_orchestrator.runtime.hooks import HookChannel, HookEvent
from claude_orchestrator.runtime.lock import lock_session, unlock_session
from claude_orchestrator.runtime.state import lock_path, remove_dir, session_dir, state_root
from claude_orchestrator.runtime.tmux import PaneStatus, TmuxError, TmuxRuntime, pane_environment
from claude_orchestrator.runtime.watch import Watcher
from claude_orchestrator.screen import clean
from claude_orchestrator.turn.ledger import Exchange, Ledger

T = TypeVar("T")
START_ATTEMPTS = 3
START_BACKOFF = (0.5, 1.5, 4.0)
NO_CONVERSATION = "No conversation found"
MAX_DIALOG_KEYS = 12  # per dialog: arrows and Enter together


class StartFailed(AgentCannotWork):
    """The agent could not be brought to its prompt (exit status 5)."""

    def __init__(self, message: str, screen: str = "", agent_status: int | None = None) -> None:
        super().__init__(message)
        self.screen = screen
        self.agent_status = agent_status  # the agent's own exit status, when it exited


class SessionElsewhere(UsageError):
    """The tmux session's live agent works in another folder than the run's (exit 2)."""


class AgentSession:
    """One agent in one tmux session, kept alive across crashes."""

    def __init__(self, config: Config, reporter: Reporter, *,
                 environ: Mapping[str, str] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        env = dict(os.environ if environ is None else environ)
        secret_names(config.withhold_env)  # no child of ours gets them (the API's callers too)
        self.config = config
        self.reporter = reporter
        self.sleep = sleep
        self.tmux_bin = find_tmux(env)
        self._lock_path = lock_path(config.socket, config.session, env)
        self._lock_fd = lock_session(self._lock_path)
        try:
            self._setup(config, env)
        except BaseException:
            unlock_session(self._lock_fd, self._lock_path)  # no lock file left behind
            raise

    def _setup(self, config: Config, env: Mapping[str, str]) -> None:
        folder = session_dir(state_root(env), config.socket, config.session)
        self.runtime = TmuxRuntime(config.socket, config.session, folder,
                                   tmux_bin=self.tmux_bin)
        home = Path(env.get("HOME") or Path.home())
        self.agent: Agent = select_agent(config.agent, config.claude_argv,
                                         folders=(home / ".claude", config.workdir / ".claude"))
        self.env = self.agent.pane_environment(pane_environment(env, config.withhold_env))
        self._executable = config.claude_argv[0]
        with contextlib.suppress(Exception):
            self._executable = find_executable(config.claude_argv, env)
        self.channel: HookChannel | None = None
        self.settings_path: Path | None = None
        self.base_argv = list(config.claude_argv)
        self.stop_hooks_elsewhere = False  # a user's Stop hook can make Claude go on
        if self.agent.uses_hooks:
            self.channel = HookChannel(folder, self.agent.event_map)
            setup = self.agent.install_hooks(self.channel, config.claude_argv, home=home,
                                             workdir=config.workdir,
                                             autonomous=config.autonomous, env=self.env)
            self.base_argv = setup.argv
            self.settings_path = setup.settings_path
            self.stop_hooks_elsewhere = setup.stop_hooks_elsewhere
            self.env.update(setup.env)
        self.watcher = Watcher(self.tmux_bin, config.socket, config.session,
                               self.channel.wake_fd if self.channel else None)
        self.ledger = Ledger()
        self.session_id: str | None = None  # the conversation to resume after a crash
        self.on_session_id: Callable[[str], None] | None = None
        self.starts = 0
        self.deadline: float | None = None  # monotonic end of the run's time budget
        self._release_checked = False
        self.kept: str | None = None  # what close() said of an agent it left running
        self.driven = False  # this session started or adopted the agent (close speaks of it)
        # What overwrites secrets in the hook record left behind (the run's redactor).
        self.record_mask: Callable[[bytes], bytes] | None = None

    @property
    def attach_command(self) -> str:
        """What a person types to watch the agent live."""
        return self.runtime.attach_command

    def kept_message(self) -> str:
        c = self.config
        return (f"{self.agent.name} keeps running in tmux session {c.session} (socket "
                f"{c.socket}): watch it with {self.attach_command}; stop it with "
                f"claude-orchestrator stop{stop_flags(c.socket, c.session)}")

    @property
    def hooks_reporting(self) -> bool:
        """Claude's hooks reported since its latest start (SessionStart); a Claude whose hooks
        stay silent (disableAllHooks) is driven by the screen instead."""
        return self.agent.uses_hooks and (self.ledger.reporting
                                          or not self.agent.start_event_at_launch)

    def events_mark(self) -> int:
        """Where the hook record ends now: events after it belong to what happens next."""
        return self.channel.size() if self.channel is not None else 0

    # ----------------------------------------------------------------- events
    def read_events(self) -> list[HookEvent]:
        """New hook events, applied to the ledger; a SessionStart names the conversation. A
        UserPromptSubmit is marked as a person's only when a person's terminal is attached to
        the session and was active within `attach_idle` (tmux's `client_activity`, which input
        from the pane itself, `send-keys` or an appended event, does not move)."""
        if self.channel is None:
            return []
        events = self.channel.read_new()
        if any(ev.name == "UserPromptSubmit" for ev in events):
            person = self._person_active()
            events = [dataclasses.replace(ev, by_person=person)
                      if ev.name == "UserPromptSubmit" else ev for ev in events]
        for ev in events:
            self.ledger = self.ledger.apply(ev.name, ev.payload, by_person=ev.by_person)
        self._note_session()
        return events

    def meanwhile(self, work: Callable[[], T]) -> T:
        """`work()` on a thread of its own while this session keeps reading Claude's hook
        events (a message a person types at the pane during a supervisor call is judged as it
        comes: their terminal is attached then, maybe not after the call). The thread marks
        itself done, then wakes the wait through the hook FIFO; its exception is raised here.
        With no hook channel there is nothing to read meanwhile: `work()` runs here."""
        channel = self.channel
        if channel is None:
            return work()
        box: dict[str, Any] = {}
        done = threading.Event()

        def run() -> None:
            try:
                box["value"] = work()
            except BaseException as e:  # handed to the caller
                box["error"] = e
            finally:
                done.set()  # before the wake: a wake drained early must not cost a second
                with contextlib.suppress(OSError):
                    os.write(channel.wake_fd, b".")

        thread = threading.Thread(target=run, daemon=True, name="meanwhile")
        thread.start()
        while not done.is_set():
            self.watcher.wait(1.0)
            self.read_events()
        thread.join()
        if "error" in box:
            raise box["error"]
        return cast(T, box["value"])

    def _person_active(self) -> bool:
        if not self.watcher.people_maybe:  # tmux said nobody is attached; no one came since
            return False
        try:
            idle = self.runtime.person_idle()
        except TmuxError:
            return False
        self.watcher.people_maybe = idle is not None
        return idle is not None and idle <= self.config.attach_idle

    def take_exchanges(self) -> list[Exchange]:
        """Messages someone else gave Claude since last asked (a person at the pane, or
        unattributed: see `read_events`), with Claude's replies; Claude's own prompts (after a
        usage limit) are not among them."""
        self.read_events()
        self.ledger, exchanges = self.ledger.take_exchanges()
        return [e for e in exchanges if not self.agent.from_itself(e.prompt)]

    def adopt_ledger(self, ledger: Ledger) -> None:
        """The ledger as a turn left it (the turn machine read the events meanwhile)."""
        self.ledger = ledger
        self._note_session()

    def _note_session(self) -> None:
        sid = self.ledger.session_id
        if sid and sid != self.session_id:
            self.session_id = sid
            if self.on_session_id:
                self.on_session_id(sid)

    # ----------------------------------------------------------------- lifecycle
    def ensure_ready(self) -> PaneStatus | None:
        """Make sure the agent runs; start or restart it when not. Returns the status seen
        when it was already running (None after a (re)start)."""
        status = self.runtime.status()
        if status.alive:
            if self.watcher.control is None:
                if self.starts == 0:
                    self._check_folder()
                self.driven = True
                self.watcher.attach()
                if self.starts == 0:
                    self._adopt_running_agent()
            return status
        if self.starts == 0 and not status.session:
            self.start(resume=self.session_id is not None)
        else:
            self.reporter.note(f"{status.describe()}; restarting {self.agent.name}")
            self.start(resume=True)
        return None

    def start(self, *, resume: bool) -> None:
        """Start the agent (resuming the conversation when asked and known), bounded retries."""
        if not self._release_checked:
            self._release_checked = True
            note = self.agent.check_release(self._executable)
            if note:
                self.reporter.note(note)
        resume_id = self._resume_id(resume)
        if resume_id:
            self._free(resume_id)
        attempt = 0
        refused = False
        while True:
            attempt += 1
            argv = self.agent.command(self.base_argv, settings_path=self.settings_path,
                                      resume_id=resume_id)
            try:
                status = self.runtime.status()
                if status.session and status.dead:
                    self.runtime.respawn(argv, self.config.workdir, self.env,
                                         unset=self.config.withhold_env)
                else:
                    # A server killed a moment ago can still hold the socket.
                    self.runtime.start(argv, self.config.workdir, self.env,
                                       unset=self.config.withhold_env)
                self.starts += 1
                self.driven = True
                self.ledger = Ledger(session_id=self.session_id)
                self.watcher.attach()
                self.wait_ready()
                self._expect_session_start()
            except (StartFailed, TmuxError) as err:
                e = err if isinstance(err, StartFailed) else StartFailed(str(err))
                if resume_id and self.agent.no_conversation(e.screen):
                    self.reporter.note(
                        f"the conversation {resume_id} could not be resumed "
                        f"({self.agent.name} had not saved it); starting a new conversation")
                    resume_id = None
                    self.session_id = None
                    continue
                in_use = refused_session(e.screen)
                if in_use and not refused:  # `--session-id` of a conversation that exists
                    refused = True
                    others = self._free(in_use, tell=False)
                    if others:
                        raise StartFailed(
                            f"Claude refused to start: its conversation {in_use} is in use by "
                            f"{others[0].describe()}; end that Claude, or take --session-id "
                            "out of CLAUDE_CMD", e.screen) from None
                    self.reporter.note(f"the conversation {in_use} exists (--session-id in "
                                       "CLAUDE_CMD); resuming it")
                    resume_id = self.session_id = in_use
                    continue
                if attempt >= START_ATTEMPTS:
                    raise e from None
                delay = START_BACKOFF[min(attempt - 1, len(START_BACKOFF) - 1)]
                self.reporter.note(f"{e}; trying again in {delay:g}s "
                                   f"(attempt {attempt + 1}/{START_ATTEMPTS})")
                self.sleep(delay)
                continue
            if resume_id:
                self.reporter.note(f"{self.agent.name} restarted with the conversation resumed "
                                   f"(--resume {resume_id})")
            return

    def _check_folder(self) -> None:
        """A live agent is adopted only when it works in this run's folder: a run in B must
        never drive the Claude a chat left running in A."""
        theirs = self.runtime.workdir()
        mine = self.config.workdir
        if theirs is None or _same_folder(theirs, mine):
            return
        c = self.config
        where = stop_flags(c.socket, c.session)
        raise SessionElsewhere(
            f"tmux session {c.session} (socket {c.socket}) already runs {self.agent.name} in "
            f"{theirs}, not in {mine}: stop it first (claude-orchestrator stop{where}), or "
            "run this one in another session (--session NAME)")

    def _adopt_running_agent(self) -> None:
        """An agent left running by an earlier orchestrator (TERMINATE_WHEN_QUIT=false, or a
        `resume`): its hooks still write to this session's events file, which says whether they
        report and which conversation it holds."""
        if self.channel is None:
            return
        ledger = Ledger()
        for ev in self.channel.read_all():
            ledger = ledger.apply(ev.name, ev.payload)
        ledger = ledger.take_exchanges()[0]  # the past is the run log's, not news
        if self.session_id is not None and ledger.session_id is None:
            ledger = Ledger(session_id=self.session_id, reporting=ledger.reporting)
        self.adopt_ledger(ledger)

    def _expect_session_start(self, limit: float = 3.0) -> None:
        """SessionStart comes with the prompt (measured ~0.49 s after start): wait briefly for
        it, and say so when Claude's hooks do not report at all."""
        if self.channel is None or not self.agent.start_event_at_launch:
            return  # (Codex sends SessionStart with its first message)
        deadline = time.monotonic() + limit
        while not self.ledger.reporting and time.monotonic() < deadline:
            if self.watcher.wait(deadline - time.monotonic()).hook:
                self.read_events()
        if not self.ledger.reporting:
            self.reporter.note("Claude's hooks do not report (are hooks disabled in its "
                               "settings?); the screen decides when a turn ends")

    def _free(self, session_id: str, *, tell: bool = True) -> list[Holder]:
        """End our own earlier Claude still holding the conversation; name anyone else's."""
        home = Path(self.env.get("HOME") or Path.home())
        others = free(home, session_id, str(self.settings_path or ""), self.reporter.note)
        for h in others if tell else ():
            self.reporter.note(f"the conversation {session_id} is also open in another Claude: "
                               f"{h.describe()}")
        return others

    def _resume_id(self, resume: bool) -> str | None:
        if resume and self.agent.resumable and self.config.resume_on_crash:
            return self.session_id
        return None

    def wait_ready(self, *, allow_unknown: bool = False) -> None:
        """Wait until the agent shows its idle prompt, answering the dialogs we know.

        A dialog is answered by meaning, one key at a time: the wanted option is found by its
        text in the newest question on screen, the marker moved to it with the arrow keys, and
        Enter pressed only on a frame that shows the marker there. Keys are paced
        (agents/dialogs.py `ready_for_key`): a key is chosen only on a screen that has been
        still for a while since it was drawn and since our last key, and it is pressed only if
        nothing was drawn between the capture it was chosen on and the press. Claude 2.1.332
        undoes keys pressed in the first moments of a choice list by selecting `No, exit` again,
        so an Enter chosen on an older frame would exit Claude.
        Event-driven: the screen is looked at when the pane drew something and then paused.
        """
        deadline = time.monotonic() + self.config.startup_timeout
        keys: dict[str, int] = {}
        decided: list[str] | None = None  # the frame the last key was chosen on
        pressed_at: float | None = None
        unknown_since: float | None = None
        check_at = 0.0
        self.reporter.waiting(f"waiting for {self.agent.name} to reach its prompt")
        try:
            while True:
                now = time.monotonic()
                if now >= check_at:
                    drawn = self.watcher.last_output
                    status = self.runtime.status()
                    lines = self.runtime.capture() if status.session else []
                    screen = "\n".join(lines).strip()
                    if not status.alive:
                        if status.session:  # the last words may have scrolled into history
                            screen = clean("\n".join(self.runtime.capture(history=200)))
                        raise StartFailed(_died_message(self.agent.name, status), screen,
                                          status.exit_status)
                    dialog = self.agent.dialog(lines, accept_api_key=self.config.accept_api_key)
                    pause = 0.0
                    if dialog is not None and dialog.wanted is not None:
                        pause = ready_for_key(now, last_output=drawn, last_key_at=pressed_at,
                                              frame_unchanged=lines == decided)
                    if pause > 0:
                        if now >= deadline:
                            raise StartFailed(f"{self.agent.name} kept redrawing its question "
                                              f"for {self.config.startup_timeout:g}s", screen)
                        check_at = now + pause
                    else:
                        key, hint = self._dialog_key(lines, dialog, keys)
                        if key is not None and dialog is not None and self._still(drawn):
                            self._count_key(dialog, key, keys)
                            self.runtime.press(key)
                            decided, pressed_at = lines, time.monotonic()
                            check_at = pressed_at + 0.05
                            continue
                        if key is not None:  # drawn meanwhile: judge the new frame
                            check_at = time.monotonic() + 0.05
                            continue
                        state = self.agent.screen_state(lines)
                        if hint is not None:
                            state = ScreenState.UNKNOWN_DIALOG
                        if state is ScreenState.UNKNOWN_DIALOG:
                            unknown_since = unknown_since or now
                            if not allow_unknown and now - unknown_since > 1.0:
                                raise UnknownDialog(screen, hint or None)
                        else:
                            unknown_since = None
                        if state is ScreenState.IDLE and self._quiet_enough(now):
                            return
                        if (state is ScreenState.STARTING and self.ledger.reporting
                                and time.monotonic() - self.watcher.last_output >= 1.0):
                            # SessionStart came and the screen is still, but no prompt we know
                            # is drawn (a changed UI?): go by the hook, the screen is a hint.
                            self.reporter.note(f"{self.agent.name}'s prompt was not recognised "
                                               "on screen; going by its SessionStart hook")
                            return
                        if now >= deadline:
                            raise StartFailed(
                                f"{self.agent.name} did not reach its prompt within "
                                f"{self.config.startup_timeout:g}s", screen)
                        check_at = now + 0.5
                activity = self.watcher.wait(max(0.0, min(check_at, deadline) - now))
                if activity.output or activity.pane_died or activity.gone:
                    # Look again soon after the drawing pauses.
                    check_at = min(check_at, time.monotonic() + 0.05)
                if activity.hook:
                    self.read_events()
        finally:
            self.reporter.idle()

    def _still(self, drawn: float) -> bool:
        """Nothing was drawn since `drawn` (read before the capture a key was chosen on)."""
        activity = self.watcher.wait(0)
        if activity.hook:
            self.read_events()
        return self.watcher.last_output == drawn and not activity.output

    def _dialog_key(self, lines: list[str], dialog: Dialog | None,
                    keys: dict[str, int]) -> tuple[str | None, str | None]:
        """The next key for a start-up question on screen (None: no question, or one we do not
        answer; then the hint says what to do, "" when there is nothing to say)."""
        if dialog is None:
            return None, None
        view = self.agent.dialog_view(lines)
        key = key_toward(view, dialog.wanted, dialog.heading) if dialog.wanted else None
        if key is None or keys.get(dialog.name, 0) >= MAX_DIALOG_KEYS:
            return None, dialog.hint
        return key, None

    def _count_key(self, dialog: Dialog, key: str, keys: dict[str, int]) -> None:
        """Count a key pressed for a dialog (bounded per dialog); say once that we answered."""
        keys[dialog.name] = keys.get(dialog.name, 0) + 1
        if key == "Enter" and not keys.get(dialog.name + ":told"):
            keys[dialog.name + ":told"] = 1  # 2.1.332 can ask the same question twice
            self.reporter.note(dialog.note)

    def _quiet_enough(self, now: float) -> bool:
        """The prompt counts once the agent is settled: a hook agent whose SessionStart marks
        the end of its start-up questions (Gemini shows its input box a second before its
        trust question) once that came, or the screen stayed still for a while without it
        (hooks turned off); any other hook agent at once; a screen agent once still."""
        quiet = time.monotonic() - self.watcher.last_output
        if self.agent.uses_hooks and self.agent.ready_after_start_event:
            return self.ledger.reporting or quiet >= max(3.0, self.config.stable_window)
        if self.agent.uses_hooks:
            return True
        return quiet >= self.config.stable_window

    def close(self, *, terminate: bool, keep_record: bool = False) -> None:
        """Leave (or kill, per TERMINATE_WHEN_QUIT) the session; release our resources. A
        killed session's state folder goes too, but for its hook record when `keep_record`
        (a run that can be resumed reads what Claude reported there). An agent left running
        is said in one line: which session, how to watch it, how to stop it (`kept`)."""
        if not terminate and self.driven:
            with contextlib.suppress(Exception):
                if self.runtime.status().alive:
                    self.kept = self.kept_message()
                    self.reporter.note(self.kept)
        self.watcher.close()
        self.runtime.close(terminate=terminate)
        if self.channel is not None:
            self.channel.close()
            if self.record_mask is not None and (keep_record or not terminate):
                self.channel.mask_record(self.record_mask)  # what stays holds no secret
        if terminate:
            remove_dir(self.runtime.folder, keep=("events.jsonl",) if keep_record else ())
        if self._lock_fd >= 0:  # closed once: a second close could hit a reused descriptor
            unlock_session(self._lock_fd, self._lock_path)  # the lock file goes too
            self._lock_fd = -1


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return a == b


def stop_flags(socket: str, session: str) -> str:
    """The flags `claude-orchestrator stop` needs for this session (none for the defaults).

    >>> stop_flags('gt-claude-loop', 'gt-claude-loop'), stop_flags('s', 'gt-claude-loop')
    ('', ' --socket s')
    """
    out = ""
    if socket != DEFAULT_SOCKET:
        out += f" --socket {shlex.quote(socket)}"
    if session != DEFAULT_SESSION:
        out += f" --session {shlex.quote(session)}"
    return out


def _died_message(name: str, status: PaneStatus) -> str:
    if not status.server:
        return f"the tmux server went away while {name} started"
    if not status.session:
        return f"the tmux session went away while {name} started"
    return f"{name} exited during start-up with status {status.exit_status}"
