"""HTML out of run-log data, safely: every datum passes one function (`Esc`) that takes the
secrets out (the redactor), shows control characters as escapes (as the terminal does) and
escapes it for HTML, so no text from a run (a reply, a task, a file name) can become markup.
Markup is only ever written here and in the page modules, never taken from data.

The page shell has its styles inline and loads nothing from anywhere: the same shell serves
the live page and the self-contained export (`show --html`).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime

from claude_orchestrator.screen import terminal_safe

CSS = """
:root{--fg:#1d2330;--dim:#6a7282;--line:#dde1e8;--bg:#fff;--soft:#f5f7fa;--ok:#1a7f37;
--bad:#c62828;--warn:#9a6700;--you:#8e24aa;--run:#0969da}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);
background:var(--bg);margin:0 auto;max-width:1200px;padding:16px 20px 40px}
h1{font-size:20px;margin:4px 0 2px}h2{font-size:16px;margin:22px 0 8px;
border-bottom:1px solid var(--line);padding-bottom:4px}h3{font-size:14px;margin:12px 0 4px}
a{color:var(--run);text-decoration:none}a:hover{text-decoration:underline}
.dim{color:var(--dim)}.ok{color:var(--ok)}.bad{color:var(--bad)}.warn{color:var(--warn)}
.you{color:var(--you)}.run{color:var(--run)}
table{border-collapse:collapse;width:100%;margin:4px 0}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;background:var(--soft)}td.n,th.n{text-align:right;white-space:nowrap}
code,pre,.mono{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:8px 10px;
margin:4px 0;white-space:pre-wrap;word-break:break-word;max-height:480px;overflow:auto}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0}
.card{border:1px solid var(--line);border-radius:8px;padding:8px 12px;min-width:120px}
.card b{display:block;font-size:20px}
.lane{border:2px solid var(--you);border-radius:8px;padding:6px 12px;margin:8px 0}
.lane.empty{border-color:var(--line)}
.item{border-bottom:1px solid var(--line);padding:6px 0}.item:last-child{border:0}
.cmd{background:#f3e5f5;border-radius:4px;padding:1px 6px;user-select:all}
.ev{border-left:3px solid var(--line);padding:4px 0 4px 12px;margin:10px 0}
.ev.msg{border-color:var(--run)}.ev.sup{border-color:#8250df}.ev.pause{border-color:var(--warn)}
.ev.check{border-color:var(--ok)}.ev.person{border-color:var(--you)}
.tag{display:inline-block;border:1px solid var(--line);border-radius:10px;padding:0 7px;
font-size:12px;margin-right:4px;background:var(--soft)}
.tag.ok{border-color:var(--ok)}.tag.bad{border-color:var(--bad)}.tag.warn{border-color:var(--warn)}
svg{max-width:100%;height:auto}svg text{font:11px system-ui,sans-serif;fill:var(--dim)}
form.send textarea{width:100%;min-height:70px;font:13px ui-monospace,monospace}
#pane{white-space:pre;overflow-x:auto;max-height:none}
.live-dot{display:inline-block;width:8px;height:8px;border-radius:4px;background:var(--dim);
margin-right:4px}.live-dot.on{background:var(--ok)}
"""


class Esc:
    """Text made safe to put in a page: secrets redacted, control characters shown as
    escapes, HTML escaped (quotes too, so it is safe in an attribute).

    >>> e = Esc(lambda s: s.replace('sk-secret', '[REDACTED]'))
    >>> e('<b>sk-secret</b>\\x1b]52;c;x\\x07 & "q"')
    '&lt;b&gt;[REDACTED]&lt;/b&gt;\\\\x1b]52;c;x\\\\x07 &amp; &quot;q&quot;'
    """

    def __init__(self, redact: Callable[[str], str]) -> None:
        self.redact = redact

    def __call__(self, text: object) -> str:
        return html.escape(terminal_safe(self.redact("" if text is None else str(text))),
                           quote=True)

    def block(self, text: str | None) -> str:
        """A long text as a preformatted block (empty text: nothing)."""
        return f"<pre>{self(text)}</pre>" if text else ""


def when(dt: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Local time, as the terminal commands show it ('-' for none)."""
    return "-" if dt is None else dt.astimezone().strftime(fmt)


def money(usd: float) -> str:
    """`$0.0123`, `$12.34`.

    >>> money(0.01234), money(12.3456)
    ('$0.0123', '$12.35')
    """
    return f"${usd:.4f}" if usd < 10 else f"${usd:.2f}"


STATUS_CLASS = {"complete": "ok", "quit": "ok", "running": "run", "queued": "dim",
                "failed": "bad", "refused": "bad", "budget": "you", "stuck": "you",
                "interrupted": "warn"}


def status_tag(status: str, text: str | None = None) -> str:
    """A run's status as a coloured tag (the class comes from our own table, never data)."""
    cls = STATUS_CLASS.get(status, "")
    return f'<span class="tag {cls}">{html.escape(text or status)}</span>'


def document(title: str, body: str, *, script: str = "", esc: Esc) -> str:
    """A whole page: styles inline, nothing fetched; `script` (ours, never data) at the end."""
    js = f"<script>{script}</script>" if script else ""
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            "<meta name=\"referrer\" content=\"no-referrer\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head>"
            f"<body>{body}{js}</body></html>")
