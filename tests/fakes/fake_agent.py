#!/usr/bin/env python3
"""A simulated Claude Code terminal UI, for testing the orchestrator without the real CLI.

Stdlib only and quick to start. It draws a screen that looks like Claude Code's (history that
scrolls, a spinner while busy, an input box between two rules, a footer), reads keys in raw mode
with bracketed paste, runs Claude-style hooks from ``--settings FILE`` and supports fault
injection through options and through the text of the messages it receives.

Scripted replies, chosen by the first word of the submitted message:

    (default)        busy 0.2 s, reply ``ECHO: <text>``
    sleep N          busy N seconds, reply ``slept N``
    lines N          reply ``line 1`` .. ``line N``
    code             reply with a Python code block (fences vanish on screen, like Markdown)
    exit N           exit with status N at once (after logging the message)
    crash-after N    busy N seconds, then exit with status 1
    silent           busy 0.2 s, no reply lines
    env NAME         reply ``NAME=<its value>`` (``unset`` when the agent does not have it)
    pwd              reply ``PWD <the folder it works in>``
    shell CMD        run CMD with ``sh -c`` (as Claude's Bash tool would: code in the pane),
                     reply ``ran``
    hostile          a reply with terminal escapes in it (an OSC 52 clipboard write, a title)
    stream N         busy N seconds, one new reply line on screen per second
    api-error        the turn fails: ``● API Error: 400 simulated``, StopFailure hook, no Stop

Options (unknown options are ignored, so claude-like command lines work):

    --start-delay S       sleep S seconds before the dialogs / idle prompt
    --die-at-start N      print ``fatal: simulated start failure`` and exit with status N
    --swallow-enters N    ignore the first N Enter keys that would submit
    --still-spinner       draw the busy spinner once, never animate it (a long tool call that
                          does not redraw the screen)
    --prompt-glyph G      draw the input line with G instead of ❯ (a UI the orchestrator
                          does not know)
    --garble-submits N    the first N submitted messages lose their last character (a mangled
                          paste: the log, the hooks and the reply all see the garbled text)
    --dialog trust|bypass show a start-up dialog first (repeatable, or comma separated)
    --settings FILE       Claude-style settings; its ``hooks`` run for SessionStart,
                          UserPromptSubmit, Stop and StopFailure (``sh -c``, JSON on stdin)
    --resume ID           reuse session id ID; SessionStart source ``resume``
    --transcript-dir DIR  (fake only) write a JSONL transcript to DIR/<session_id>.jsonl; with
                          --resume and no such file: ``No conversation found ...``, exit 1
    --collapse-pastes     (fake only) show big pastes as ``[Pasted text #N +M lines]``
    --usage-delay S       (fake only) write a turn's answer, usage (100 input and 10 output
                          tokens of claude-sonnet-4-5) and `turn_duration` to the transcript S
                          seconds after its Stop hook
    --session-file PATH   ignored

Environment: ``FAKE_AGENT_LOG`` names a file that receives one JSON line per submitted message:
``{"text": <exact text>, "t": <time.time()>}``.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import os
import random
import select
import signal
import subprocess
import sys
import termios
import threading
import time
import tty
import unicodedata
import uuid
from typing import Any, NoReturn

BRACKETED_PASTE_ON = "\x1b[?2004h"
BRACKETED_PASTE_OFF = "\x1b[?2004l"
CURSOR_HIDE = "\x1b[?25l"
CURSOR_SHOW = "\x1b[?25h"
PASTE_START = "\x1b[200~"
PASTE_END = "\x1b[201~"
ESC_TIMEOUT = 0.03  # a lone ESC with nothing after it for this long is the Escape key
SPINNER_PERIOD = 0.1
SPINNER_FRAMES = "·✢✳✶✻✽✻✶✳✢"
VERBS = ("Working", "Thinking", "Flambéing", "Pondering", "Crunching", "Brewing", "Cogitating")
DEFAULT_BUSY = 0.2
HOOK_EVENTS = ("SessionStart", "UserPromptSubmit", "Stop", "StopFailure")
API_ERROR_TEXT = "API Error: 400 simulated"

CODE_REPLY = """Here is the code:

```python
def greet(name):
    greeting = f"Hello, {name}"

    if name:
        print(greeting)

    return greeting
```

Done."""

TRUST_LINES = (
    " Accessing workspace:",
    "",
    " {cwd}",
    "",
    " Quick safety check: Is this a project you created or one you trust? (Like your own code, a"
    " well-known open source project, or work from your team). If not, take a moment to review"
    " what's in this folder first.",
    "",
    " Claude Code'll be able to read, edit, and execute files here.",
    "",
)
TRUST_OPTIONS = ("Yes, I trust this folder", "No, exit")
BYPASS_LINES = (
    " WARNING: Claude Code running in Bypass Permissions mode",
    "",
    " In Bypass Permissions mode, Claude Code will not ask for your approval before running"
    " potentially dangerous commands.",
    " This mode should only be used in a sandboxed container/VM that has restricted internet"
    " access and can easily be restored if damaged.",
    "",
    " By proceeding, you accept all responsibility for actions taken while running in Bypass"
    " Permissions mode.",
    "",
)
BYPASS_OPTIONS = ("No, exit", "Yes, I accept")


# --------------------------------------------------------------------------- options


class Options:
    def __init__(self) -> None:
        self.start_delay = 0.0
        self.die_at_start: int | None = None
        self.swallow_enters = 0
        self.garble_submits = 0
        self.prompt_glyph = "❯"
        self.still_spinner = False
        self.dialogs: list[str] = []
        self.settings: str | None = None
        self.resume: str | None = None
        self.transcript_dir: str | None = None
        self.collapse_pastes = False
        self.usage_delay = 0.0


VALUE_OPTIONS = (
    "--start-delay",
    "--die-at-start",
    "--swallow-enters",
    "--garble-submits",
    "--prompt-glyph",
    "--dialog",
    "--settings",
    "--resume",
    "-r",
    "--session-file",
    "--transcript-dir",
    "--usage-delay",
)


def parse_args(argv: list[str]) -> Options:
    """Parse the options the fake knows; ignore everything else (claude-like arguments)."""
    opts = Options()
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        name, eq, value = arg.partition("=")
        if name not in VALUE_OPTIONS:
            if arg == "--collapse-pastes":
                opts.collapse_pastes = True
            elif arg == "--still-spinner":
                opts.still_spinner = True
            continue
        if not eq:
            if i < len(argv) and not argv[i].startswith("-"):
                value = argv[i]
                i += 1
            elif name in ("--resume", "-r"):
                continue  # `--resume` without an id: the real CLI opens a picker; ignore
            else:
                value = ""
        try:
            if name == "--start-delay":
                opts.start_delay = float(value)
            elif name == "--die-at-start":
                opts.die_at_start = int(value)
            elif name == "--swallow-enters":
                opts.swallow_enters = int(value)
            elif name == "--garble-submits":
                opts.garble_submits = int(value)
            elif name == "--prompt-glyph":
                opts.prompt_glyph = value or "❯"
            elif name == "--dialog":
                opts.dialogs.extend(d for d in value.split(",") if d in ("trust", "bypass"))
            elif name == "--settings":
                opts.settings = value
            elif name in ("--resume", "-r"):
                opts.resume = value or None
            elif name == "--transcript-dir":
                opts.transcript_dir = value or None
            elif name == "--usage-delay":
                opts.usage_delay = float(value)
        except ValueError:
            pass
    return opts


# --------------------------------------------------------------------------- text helpers


def char_width(ch: str) -> int:
    if unicodedata.combining(ch) or ch in "\u200b\u200d\ufe0f":
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def wrap(line: str, width: int) -> list[str]:
    """Split ``line`` into pieces of display width <= ``width``."""
    if width < 4:
        width = 4
    rows: list[str] = []
    cur: list[str] = []
    cur_w = 0
    for ch in line:
        w = char_width(ch)
        if cur_w + w > width:
            rows.append("".join(cur))
            cur, cur_w = [], 0
        cur.append(ch)
        cur_w += w
    rows.append("".join(cur))
    return rows


def sanitize(line: str) -> str:
    """Make a line safe to print: control characters become visible, tabs become spaces."""
    out = []
    for ch in line.replace("\t", "    "):
        if ch < " " or ch == "\x7f":
            out.append("^" + chr(ord(ch) ^ 0x40))
        else:
            out.append(ch)
    return "".join(out)


def normalize_prompt(text: str) -> str:
    """What Claude receives: tabs become four spaces, trailing whitespace is trimmed."""
    return text.replace("\t", "    ").rstrip()


def render_markdown(text: str) -> list[str]:
    """Very small Markdown rendering: code fences vanish, inline backticks vanish."""
    lines = []
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            continue
        lines.append(line.replace("`", ""))
    return lines


def format_duration(seconds: float) -> str:
    s = max(1, round(seconds))
    if s < 60:
        return f"{s}s"
    return f"{s // 60}m {s % 60}s"


def sanitized_cwd(cwd: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in cwd)


# --------------------------------------------------------------------------- turns


class Turn:
    """One busy period: what to show, when to end and how."""

    def __init__(self, prompt: str, prompt_id: str) -> None:
        self.prompt = prompt
        self.prompt_id = prompt_id
        self.verb = random.choice(VERBS)
        self.start = time.monotonic()
        self.duration = DEFAULT_BUSY
        self.reply: str | None = None  # text for the Stop hook
        self.screen: list[str] = []  # reply lines as shown on screen
        self.stream_times: list[float] = []  # when each screen line appears (streaming)
        self.shown = 0  # how many screen lines are already printed
        self.crash = False
        self.api_error = False
        self.shell: str | None = None
        self._script()

    def _script(self) -> None:
        words = self.prompt.split()
        first = words[0] if words else ""
        arg = words[1] if len(words) > 1 else ""
        try:
            if first == "sleep" and arg:
                self.duration = float(arg)
                self.set_reply(f"slept {arg}")
                return
            if first == "lines" and arg:
                self.set_reply("\n".join(f"line {i}" for i in range(1, int(arg) + 1)))
                return
            if first == "crash-after" and arg:
                self.duration = float(arg)
                self.crash = True
                return
            if first == "stream" and arg:
                self.duration = float(arg)
                count = 0
                while count + 0.5 < self.duration:
                    count += 1
                self.set_reply("\n".join(f"stream line {i}" for i in range(1, count + 1)))
                self.stream_times = [i - 0.5 for i in range(1, count + 1)]
                return
        except ValueError:
            pass
        if first == "env" and arg:
            self.set_reply(f"{arg}={os.environ.get(arg, 'unset')}")
        elif first == "pwd":
            self.set_reply(f"PWD {os.getcwd()}")
        elif first == "shell" and arg:
            self.shell = self.prompt.split(None, 1)[1]  # run once the turn has begun
            self.set_reply("ran")
        elif first == "hostile":  # terminal escapes in the reply (the hooks carry them raw)
            self.reply = "clip \x1b]52;c;cm0gLXJmIH4=\x07 title \x1b]0;pwned\x07 end"
            self.screen = ["clip [escapes] title [escapes] end"]
        elif first == "code":
            self.reply = CODE_REPLY
            self.screen = render_markdown(CODE_REPLY)
        elif first == "silent":
            self.reply = ""
        elif first == "api-error":
            self.api_error = True
            self.reply = API_ERROR_TEXT
            self.screen = [API_ERROR_TEXT]
        else:
            self.set_reply("ECHO: " + self.prompt)

    def set_reply(self, text: str) -> None:
        self.reply = text
        self.screen = text.split("\n")

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def due_lines(self) -> list[str]:
        """Streamed lines whose time has come and which are not printed yet."""
        t = self.elapsed()
        due = []
        while self.shown < len(self.stream_times) and self.stream_times[self.shown] <= t:
            due.append(self.screen[self.shown])
            self.shown += 1
        return due


def reply_rows(lines: list[str], first_index: int) -> list[str]:
    rows = []
    for i, line in enumerate(lines, start=first_index):
        text = sanitize(line)
        if i == 0:
            rows.append("● " + text)
        else:
            rows.append("  " + text if text else "")
    return rows


# --------------------------------------------------------------------------- the app


class Dialog:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.selected = 0
        self.options = TRUST_OPTIONS if kind == "trust" else BYPASS_OPTIONS

    def accepted(self) -> bool:
        if self.kind == "trust":
            return self.selected == 0
        return self.selected == 1


class FakeAgent:
    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.fd_in = sys.stdin.fileno()
        self.fd_out = sys.stdout.fileno()
        self.saved_attrs: list[Any] | None = None
        self.cwd = os.getcwd()
        self.session_id = opts.resume or str(uuid.uuid4())
        self.source = "resume" if opts.resume else "startup"
        if opts.transcript_dir:
            self.transcript_path = os.path.join(opts.transcript_dir, f"{self.session_id}.jsonl")
        else:
            home = os.path.expanduser("~")
            self.transcript_path = os.path.join(
                home, ".claude", "projects", sanitized_cwd(self.cwd), f"{self.session_id}.jsonl"
            )
        self.hooks = self._load_hooks(opts.settings)
        self.swallow = opts.swallow_enters
        self.garble = opts.garble_submits
        self.glyph = opts.prompt_glyph
        self.still = opts.still_spinner
        self.dialogs = [Dialog(k) for k in opts.dialogs]
        self.ready = False  # the prompt is showing (start-up done)
        self.input = ""
        self.pastes: dict[str, str] = {}
        self.paste_count = 0
        self.queue: list[str] = []
        self.turn: Turn | None = None
        self.inbuf = ""
        self.in_paste = False
        self.paste_buf: list[str] = []
        self.last_input = 0.0
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.block_rows = 0
        self.last_draw = 0.0
        self.ctrl_c_at = 0.0

    # ----------------------------------------------------------------- terminal

    def write(self, text: str) -> None:
        data = text.encode("utf-8")
        while data:
            try:
                n = os.write(self.fd_out, data)
            except InterruptedError:
                continue
            data = data[n:]

    def setup_terminal(self) -> None:
        if os.isatty(self.fd_in):
            self.saved_attrs = termios.tcgetattr(self.fd_in)
            tty.setraw(self.fd_in)
        self.write(BRACKETED_PASTE_ON + CURSOR_HIDE)

    def restore_terminal(self) -> None:
        with contextlib.suppress(OSError):
            self.write(BRACKETED_PASTE_OFF + CURSOR_SHOW + "\r\n")
        if self.saved_attrs is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(self.fd_in, termios.TCSADRAIN, self.saved_attrs)

    def size(self) -> tuple[int, int]:
        try:
            sz = os.get_terminal_size(self.fd_out)
            return sz.columns, sz.lines
        except OSError:
            return 200, 50

    # ----------------------------------------------------------------- drawing

    def erase_block(self) -> str:
        if self.block_rows == 0:
            return ""
        up = f"\x1b[{self.block_rows - 1}A" if self.block_rows > 1 else ""
        self.block_rows = 0
        return up + "\r\x1b[J"

    def block_lines(self, cols: int, lines: int) -> list[str]:
        """The bottom block (rules, input, footer ...) as screen rows."""
        width = cols - 2
        rule = "─" * cols
        if self.dialogs:
            dialog = self.dialogs[0]
            body = [
                ln.format(cwd=self.cwd)
                for ln in (TRUST_LINES if dialog.kind == "trust" else BYPASS_LINES)
            ]
            for i, label in enumerate(dialog.options):
                mark = "❯" if i == dialog.selected else " "
                body.append(f" {mark} {i + 1}. {label}")
            body += ["", " Enter to confirm · Esc to cancel"]
            rows = [rule]
            for ln in body:
                rows += wrap(ln, width)
            return rows
        head: list[str] = [""]
        if self.turn is not None:
            frame = SPINNER_FRAMES[int(self.turn.elapsed() / SPINNER_PERIOD) % len(SPINNER_FRAMES)]
            secs = int(self.turn.elapsed())
            if self.still:
                frame, secs = SPINNER_FRAMES[0], 0
            head.append(f"{frame} {self.turn.verb}… ({secs}s · esc to interrupt)")
            head.append("")
        if self.queue:
            for msg in self.queue:
                for j, ln in enumerate(sanitize_lines(msg)):
                    head += wrap(("  ❯ " if j == 0 else "    ") + ln, width)
            head.append("")
        if self.input:
            input_rows: list[str] = []
            for j, ln in enumerate(sanitize_lines(self.input)):
                input_rows += wrap((f"{self.glyph} " if j == 0 else "  ") + ln, width)
        elif self.queue:
            input_rows = [f"{self.glyph} \x1b[2mPress up to edit queued messages\x1b[0m"]
        else:
            input_rows = [f"{self.glyph} "]
        if self.turn is not None:
            footer = "  esc to interrupt"
        elif time.monotonic() - self.ctrl_c_at < 2.0:
            footer = "  Press Ctrl-C again to exit"
        else:
            footer = "  ? for shortcuts"
        # never let the block be taller than the screen: keep the end of the input visible
        room = max(1, lines - 1 - (len(head) + 3))
        if len(input_rows) > room:
            input_rows = input_rows[-room:]
        return [*head, rule, *input_rows, rule, footer]

    def redraw(self, history: list[str] | None = None) -> None:
        cols, lines = self.size()
        out = [self.erase_block()]
        for ln in history or ():
            out.append(ln + "\r\n")
        if self.ready or self.dialogs:
            rows = self.block_lines(cols, lines)
            out.append("\r\n".join(rows))
            self.block_rows = len(rows)
        self.write("".join(out))
        self.last_draw = time.monotonic()

    # ----------------------------------------------------------------- hooks

    def _load_hooks(self, path: str | None) -> dict[str, list[dict[str, Any]]]:
        if not path:
            return {}
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            return {}
        hooks = data.get("hooks") if isinstance(data, dict) else None
        return hooks if isinstance(hooks, dict) else {}

    def run_hooks(self, event: str, payload: dict[str, Any], matcher_value: str = "") -> None:
        entries = self.hooks.get(event)
        if not isinstance(entries, list):
            return
        base = {
            "session_id": self.session_id,
            "transcript_path": self.transcript_path,
            "cwd": self.cwd,
            "hook_event_name": event,
        }
        data = json.dumps({**base, **payload}, ensure_ascii=False).encode("utf-8")
        env = dict(os.environ, CLAUDE_PROJECT_DIR=self.cwd)
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            matcher = entry.get("matcher", "")
            if (
                matcher
                and matcher != "*"
                and matcher_value
                and (matcher_value not in str(matcher).split("|"))
            ):
                continue
            for hook in entry.get("hooks", []):
                if not isinstance(hook, dict) or hook.get("type") != "command":
                    continue
                command = hook.get("command")
                if not isinstance(command, str):
                    continue
                timeout = hook.get("timeout", 60)
                with contextlib.suppress(OSError, subprocess.SubprocessError, ValueError):
                    subprocess.run(
                        ["sh", "-c", command],
                        input=data,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        cwd=self.cwd,
                        env=env,
                        timeout=float(timeout),
                        check=False,
                    )

    # ----------------------------------------------------------------- transcript

    def transcript_append(self, entries: list[dict[str, Any]]) -> None:
        if not self.opts.transcript_dir:
            return
        try:
            os.makedirs(self.opts.transcript_dir, exist_ok=True)
            with open(self.transcript_path, "a", encoding="utf-8") as f:
                for e in entries:
                    f.write(json.dumps({**e, "sessionId": self.session_id}) + "\n")
        except OSError:
            pass

    # ----------------------------------------------------------------- start-up

    def startup(self) -> None:
        if (
            self.opts.resume
            and self.opts.transcript_dir
            and not os.path.exists(self.transcript_path)
        ):
            self.write(f"No conversation found with session ID: {self.opts.resume}\r\n")
            raise SystemExit(1)
        self.redraw(
            [
                "╭───────────────────────────────────────╮",
                "│   Fake Claude Code (simulated agent)  │",
                "╰───────────────────────────────────────╯",
                "",
                f"  cwd: {self.cwd}",
            ]
        )
        if self.opts.start_delay > 0:
            time.sleep(self.opts.start_delay)
        if self.dialogs:
            self.redraw()
        else:
            self.finish_startup()

    def finish_startup(self) -> None:
        self.run_hooks("SessionStart", {"source": self.source}, matcher_value=self.source)
        self.ready = True
        self.redraw()

    def dialog_key(self, key: str) -> None:
        dialog = self.dialogs[0]
        if key in ("up", "down"):
            step = 1 if key == "down" else -1
            dialog.selected = (dialog.selected + step) % len(dialog.options)
            self.redraw()
            return
        if key in ("1", "2"):
            dialog.selected = int(key) - 1
            key = "enter"
        if key == "escape":
            raise SystemExit(1)
        if key != "enter":
            return
        if not dialog.accepted():
            raise SystemExit(1)
        self.dialogs.pop(0)
        if self.dialogs:
            self.redraw()
        else:
            self.finish_startup()

    # ----------------------------------------------------------------- input

    def feed(self, flush: bool) -> None:
        """Parse ``self.inbuf``; with ``flush``, a lone/incomplete ESC is taken as Escape."""
        buf = self.inbuf
        i = 0
        n = len(buf)
        while i < n:
            if self.in_paste:
                j = buf.find(PASTE_END, i)
                if j < 0:
                    # keep a possible partial end marker for the next read
                    keep = 0
                    for k in range(min(len(PASTE_END) - 1, n - i), 0, -1):
                        if buf.endswith(PASTE_END[:k]):
                            keep = k
                            break
                    self.paste_buf.append(buf[i : n - keep])
                    i = n - keep
                    break
                self.paste_buf.append(buf[i:j])
                i = j + len(PASTE_END)
                self.in_paste = False
                text = "".join(self.paste_buf).replace("\r\n", "\n").replace("\r", "\n")
                self.paste_buf = []
                self.on_paste(text)
                continue
            ch = buf[i]
            if ch == "\x1b":
                if i + 1 >= n:
                    if flush:
                        self.on_key("escape")
                        i += 1
                    break
                nxt = buf[i + 1]
                if nxt == "[":
                    j = i + 2
                    while j < n and not ("@" <= buf[j] <= "~"):
                        j += 1
                    if j >= n:
                        if flush:
                            i = n  # drop an incomplete sequence
                        break
                    seq = buf[i + 2 : j + 1]
                    i = j + 1
                    if seq == "200~":
                        self.in_paste = True
                        self.paste_buf = []
                    elif seq in ("A", "B"):
                        self.on_key("up" if seq == "A" else "down")
                    continue
                if nxt == "O":
                    if i + 2 >= n:
                        if flush:
                            i = n
                        break
                    code = buf[i + 2]
                    i += 3
                    if code in "AB":
                        self.on_key("up" if code == "A" else "down")
                    continue
                # ESC + something else (alt-key): take the ESC as Escape
                self.on_key("escape")
                i += 1
                continue
            i += 1
            if ch == "\r":
                self.on_key("enter")
            elif ch == "\n":
                self.on_text("\n")  # ctrl-J inserts a newline
            elif ch in "\x7f\x08":
                self.on_key("backspace")
            elif ch == "\x15":
                self.on_key("ctrl-u")
            elif ch in "\x03\x04":
                self.on_key("ctrl-c")
            elif ch < " ":
                continue
            else:
                # collect a run of printable characters
                j = i
                while j < n and buf[j] >= " " and buf[j] != "\x7f":
                    j += 1
                self.on_text(ch + buf[i:j])
                i = j
        self.inbuf = buf[i:]

    def on_paste(self, text: str) -> None:
        if self.dialogs or not self.ready:
            return
        if self.opts.collapse_pastes and (text.count("\n") > 2 or len(text) > 800):
            self.paste_count += 1
            label = f"[Pasted text #{self.paste_count} +{text.count(chr(10))} lines]"
            self.pastes[label] = text
            text = label
        self.input += text
        self.redraw()

    def on_text(self, text: str) -> None:
        if self.dialogs:
            for ch in text:
                if self.dialogs:
                    self.dialog_key(ch)
            return
        if not self.ready:
            return
        self.input += text
        self.redraw()

    def on_key(self, key: str) -> None:
        if self.dialogs:
            self.dialog_key(key)
            return
        if not self.ready:
            return
        if key == "enter":
            self.on_enter()
        elif key == "backspace":
            for label in self.pastes:
                if self.input.endswith(label):
                    self.input = self.input[: -len(label)]
                    break
            else:
                self.input = self.input[:-1]
            self.redraw()
        elif key == "ctrl-u":
            self.input = ""
            self.redraw()
        elif key == "escape":
            if self.turn is not None:
                self.interrupt()
        elif key == "up":
            if self.queue and not self.input:
                self.input = "\n".join(self.queue)
                self.queue = []
                self.redraw()
        elif key == "ctrl-c":
            if self.turn is not None:
                self.interrupt()
            elif self.input:
                self.input = ""
                self.redraw()
            elif time.monotonic() - self.ctrl_c_at < 2.0:
                raise SystemExit(0)
            else:
                self.ctrl_c_at = time.monotonic()
                self.redraw()

    def on_enter(self) -> None:
        text = self.input
        for label, content in self.pastes.items():
            text = text.replace(label, content)
        if not text.strip():
            return
        if self.swallow > 0:
            self.swallow -= 1
            return
        self.input = ""
        self.pastes = {}
        if self.garble > 0:
            self.garble -= 1
            text = text[:-1] if len(text) > 1 else text + "?"
        self.log(text)
        if self.turn is not None:
            self.queue.append(text)
            self.redraw()
            return
        self.start_turn(text)

    def log(self, text: str) -> None:
        path = os.environ.get("FAKE_AGENT_LOG")
        if not path:
            return
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"text": text, "t": time.time()}, ensure_ascii=False) + "\n")
            f.flush()

    # ----------------------------------------------------------------- turns

    def start_turn(self, text: str) -> None:
        prompt = normalize_prompt(text)
        words = prompt.split()
        if words and words[0] == "exit":
            try:
                code = int(words[1]) if len(words) > 1 else 0
            except ValueError:
                code = 0
            raise SystemExit(code)
        echo = [""] + [
            ("❯ " if j == 0 else "  ") + ln for j, ln in enumerate(sanitize_lines(prompt))
        ]
        if is_slash_command(prompt):
            name = prompt.split()[0]
            self.redraw([*echo, f"  ⎿  Unknown command: {name}"])
            self.take_queue()
            return
        prompt_id = str(uuid.uuid4())
        self.turn = Turn(prompt, prompt_id)
        self.redraw(echo)
        self.run_hooks("UserPromptSubmit", {"prompt": prompt, "prompt_id": prompt_id})
        self.transcript_append([{"type": "user", "message": {"role": "user", "content": prompt}}])
        if self.turn.shell is not None:  # Claude's Bash tool: code running in the pane
            subprocess.run(["/bin/sh", "-c", self.turn.shell], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        self.turn.start = time.monotonic()
        self.redraw()

    def tick(self) -> None:
        turn = self.turn
        if turn is None:
            return
        due = turn.due_lines()
        if due:
            self.redraw(
                ([""] if turn.shown == len(due) else []) + reply_rows(due, turn.shown - len(due))
            )
        if turn.elapsed() >= turn.duration:
            self.finish_turn()
        elif time.monotonic() - self.last_draw >= SPINNER_PERIOD and not self.still:
            self.redraw()

    def finish_turn(self) -> None:
        turn = self.turn
        assert turn is not None
        if turn.crash:
            raise SystemExit(1)
        history: list[str] = []
        rest = turn.screen[turn.shown :]
        if rest:
            if turn.shown == 0:
                history.append("")
            history += reply_rows(rest, turn.shown)
        turn.shown = len(turn.screen)
        self.redraw(history)
        elapsed = turn.elapsed()
        reply = turn.reply or ""
        if turn.api_error:
            self.run_hooks(
                "StopFailure",
                {"error": "invalid_request_error", "last_assistant_message": reply},
            )
            self.turn = None
            self.redraw()
        else:
            self.run_hooks(
                "Stop",
                {
                    "prompt_id": turn.prompt_id,
                    "stop_hook_active": False,
                    "last_assistant_message": reply,
                },
            )
            self.turn = None
            self.redraw(["", f"✻ Worked for {format_duration(elapsed)}"])
        # like Claude: the transcript is written after the Stop hook, the turn's usage with
        # its answer and a `turn_duration` line last (--usage-delay: that long after the Stop)
        entries = [
            {
                "type": "assistant",
                "message": {"id": f"msg_fake_{uuid.uuid4().hex}",
                            "model": "claude-sonnet-4-5", "role": "assistant",
                            "content": [{"type": "text", "text": reply}],
                            "usage": {"input_tokens": 100, "output_tokens": 10}},
            },
            {"type": "system", "subtype": "turn_duration", "durationMs": int(elapsed * 1000)},
        ]
        if self.opts.usage_delay:
            threading.Timer(self.opts.usage_delay, self.transcript_append, (entries,)).start()
        else:
            self.transcript_append(entries)
        self.take_queue()

    def take_queue(self) -> None:
        if self.turn is None and self.queue:
            self.start_turn(self.queue.pop(0))

    def interrupt(self) -> None:
        self.turn = None
        if self.queue:  # queued messages go back into the input for editing
            self.input = "\n".join([*self.queue, self.input] if self.input else self.queue)
            self.queue = []
        self.redraw(["  ⎿  Interrupted by user"])
        self.take_queue()

    # ----------------------------------------------------------------- main loop

    def next_timeout(self) -> float | None:
        timeouts: list[float] = []
        now = time.monotonic()
        if self.inbuf:
            timeouts.append(max(0.0, self.last_input + ESC_TIMEOUT - now))
        turn = self.turn
        if turn is not None:
            if not self.still:
                timeouts.append(max(0.0, self.last_draw + SPINNER_PERIOD - now))
            timeouts.append(max(0.0, turn.start + turn.duration - now))
            if turn.shown < len(turn.stream_times):
                timeouts.append(max(0.0, turn.start + turn.stream_times[turn.shown] - now))
        if self.ctrl_c_at and now - self.ctrl_c_at < 2.0:
            timeouts.append(self.ctrl_c_at + 2.0 - now)
        return min(timeouts) if timeouts else None

    def step(self) -> None:
        try:
            ready, _, _ = select.select([self.fd_in], [], [], self.next_timeout())
        except InterruptedError:
            ready = []
        now = time.monotonic()
        if ready:
            try:
                data = os.read(self.fd_in, 65536)
            except OSError:
                data = b""
            if not data:
                raise SystemExit(0)  # the terminal went away
            self.inbuf += self.decoder.decode(data)
            self.last_input = now
            self.feed(flush=False)
        elif self.inbuf and now - self.last_input >= ESC_TIMEOUT:
            self.feed(flush=True)
        if self.ctrl_c_at and now - self.ctrl_c_at >= 2.0:
            self.ctrl_c_at = 0.0
            if self.ready and self.turn is None:
                self.redraw()
        self.tick()

    def run(self) -> NoReturn:
        self.setup_terminal()
        try:
            self.startup()
            while True:
                self.step()
        finally:
            self.restore_terminal()


def sanitize_lines(text: str) -> list[str]:
    return [sanitize(ln) for ln in text.split("\n")]


def is_slash_command(prompt: str) -> bool:
    if not prompt.startswith("/") or len(prompt) < 2:
        return False
    word = prompt[1:].split()[0] if prompt[1:].split() else ""
    if not word or not all(c.isalnum() or c in ":_-" for c in word):
        return False
    return not os.path.exists("/" + word)


def _raise_exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    if opts.die_at_start is not None:
        sys.stdout.write("fatal: simulated start failure\n")
        sys.stdout.flush()
        time.sleep(0.2)  # let the terminal (tmux) read the message before the pane dies
        return opts.die_at_start
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_exit)
    try:
        FakeAgent(opts).run()
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
