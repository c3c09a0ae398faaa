"""A run's timeline as HTML: every message with its delivery state (confirmed by Claude's
UserPromptSubmit, or not), every turn's end and the signal that decided it, the reply, the
tools and files, the supervisor's calls and cost, the pauses and the checks, in time order.

The same body serves the live page (`/runs/RUN_ID`) and the self-contained export
(`show RUN --html`, `show --batch ID --html`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from claude_orchestrator.runlog import Pause, RunRecord, SupervisorCall, TurnRecord, Verification
from claude_orchestrator.runlog.format import first_line
from claude_orchestrator.runlog.tables import span
from claude_orchestrator.web.html import Esc, document, money, status_tag, when
from claude_orchestrator.web.needs import attach_command, needs_you

ENDED_BY = {
    "hook": "Claude's Stop hook",
    "api-error": "StopFailure (Claude's API failed)",
    "screen": "the screen (it settled)",
    "idle-timeout": "idle timeout (no change on screen)",
    "agent-died": "the agent died",
    "error": "an error",
    "nothing-to-send": "nothing to send",
}
SOURCES = {"supervisor": "the supervisor", "chat": "chat", "person": "a person at the pane",
           "unattributed": "someone unknown at the pane (not us, no attached person)",
           "web": "the web page", "api": "the Python API"}
_FILE_TOOLS = {"Write": "wrote", "Edit": "edited", "MultiEdit": "edited",
               "NotebookEdit": "edited"}


def label(run: RunRecord, first_message: str | None = None) -> str:
    """What a run is called: its task's first line, or a chat's first message."""
    return first_line(run.task) or (f"(chat) {first_line(first_message or '')}"
                                    if first_message else "(chat session)")


def delivery(turn: TurnRecord, running: bool) -> tuple[str, str]:
    """A message's delivery state, and its tag class."""
    if turn.delivered_at is not None:
        took = (turn.delivered_at - turn.sent_at).total_seconds()
        return (f"delivered: confirmed by UserPromptSubmit at {when(turn.delivered_at, '%H:%M:%S')}"
                f" (+{took:.2f}s)", "ok")
    if turn.status == "failed":
        return "not delivered: failed", "bad"
    if turn.status == "sent":
        return (("sent; Claude's confirmation is recorded with the turn's end", "warn")
                if running else ("sent, never confirmed (the run ended)", "bad"))
    return "not confirmed by a hook (the screen decided)", "warn"


def _tools(turn: TurnRecord, e: Esc) -> str:
    out = []
    for t in turn.tools:
        name, detail = str(t.get("tool") or "?"), str(t.get("detail") or "")
        failed = ' <span class="bad">(failed)</span>' if t.get("failed") else ""
        first = detail.splitlines()[0] if detail.strip() else ""
        if name == "Bash":
            out.append(f"<li>ran <code>$ {e(first)}</code>{failed}</li>")
        elif name in _FILE_TOOLS:
            out.append(f"<li>{_FILE_TOOLS[name]} <code>{e(first)}</code>{failed}</li>")
        else:
            out.append(f"<li>used {e(name)}: {e(first[:120])}{failed}</li>")
    return f"<ul class=\"mono\">{''.join(out)}</ul>" if out else ""


def _turn(turn: TurnRecord, running: bool, e: Esc) -> str:
    state, cls = delivery(turn, running)
    ended = ""
    if turn.ended_by:
        took = (f" after {(turn.ended_at - turn.sent_at).total_seconds():.1f}s"
                if turn.ended_at else "")
        ended = (f'<span class="tag">ended by {e(ENDED_BY.get(turn.ended_by, turn.ended_by))}'
                 f"{took}</span>")
    who = SOURCES.get(turn.source, turn.source)
    person = " person" if turn.source in ("person", "unattributed") else ""
    parts = [f'<div class="ev msg{person}" id="turn-{turn.seq}"><h3>turn {turn.seq} '
             f'<span class="dim">{when(turn.sent_at, "%H:%M:%S")} · from {e(who)}</span></h3>',
             f'<span class="tag {cls}" data-delivery="{cls}">{e(state)}</span>{ended}',
             "<div class=\"dim\">sent to Claude:</div>", e.block(turn.message) or "<pre></pre>"]
    if turn.recovery:
        parts.append(f'<div class="warn">recovery: {e(turn.recovery)}</div>')
    if turn.error:
        parts.append(f'<div class="bad">error: {e(turn.error)}</div>')
    if turn.reply is not None:
        parts += ['<div class="dim">Claude replied:</div>', e.block(turn.reply) or "<pre></pre>"]
    elif turn.status == "sent" and running:
        parts.append('<div class="run">no reply yet: Claude is working on it</div>')
    parts.append(_tools(turn, e))
    if turn.claude_tokens:
        parts.append(f'<div class="dim">Claude: {turn.claude_tokens} tokens, '
                     f"~{money(turn.claude_cost_usd)} (an estimate)</div>")
    parts.append("</div>")
    return "".join(parts)


def _call(c: SupervisorCall, e: Esc) -> str:
    cost = money(c.cost_usd) if c.cost_usd is not None else "cost not reported"
    tokens = f"{c.prompt_tokens or 0} + {c.completion_tokens or 0} tokens"
    retry = f", {c.attempts} attempts" if c.attempts > 1 else ""
    return (f'<div class="ev sup"><span class="dim">{when(c.at, "%H:%M:%S")}</span> '
            f"supervisor call {c.seq}: {tokens}, {cost}{retry}</div>")


def _pause(p: Pause, e: Esc) -> str:
    until = f", resets {when(p.until_at, '%H:%M')}" if p.until_at else ""
    ended = f"ended {when(p.ended_at, '%H:%M:%S')}" if p.ended_at else "not ended"
    lasted = ((p.ended_at or datetime.now(UTC)) - p.started_at).total_seconds()
    took = f" ({span(lasted)})"
    return (f'<div class="ev pause"><span class="dim">{when(p.started_at, "%H:%M:%S")}</span> '
            f"paused: {e(p.reason)}{until}; {ended}{took}"
            f"<div class=\"dim\">{e(first_line(p.text or ''))}</div></div>")


def _check(c: Verification, e: Esc) -> str:
    ok = c.status == 0
    result = f"exit {c.status}" if c.status is not None else "did not finish"
    return (f'<div class="ev check"><span class="dim">{when(c.at, "%H:%M:%S")}</span> '
            f'check {c.seq}: <span class="{"ok" if ok else "bad"}">{result}</span> in '
            f"{c.seconds:.1f}s <code>$ {e(c.command)}</code>{e.block(c.output)}</div>")


def facts(run: RunRecord, turns: Sequence[TurnRecord], calls: Sequence[SupervisorCall],
          e: Esc) -> str:
    """The run's head: status, what it needs, cost, where its work is."""
    rows = [("status", status_tag(run.status) + (f" exit {run.exit_code}"
                                                 if run.exit_code is not None else "")
             + (f" · now: {e(run.activity)}" if run.status == "running" and run.activity
                else "")),
            ("outcome", e(run.message or "-"))]
    need = needs_you(run)
    if need is not None:
        rows.append(("needs you", f'<span class="you">{e(need.reason)}</span>'))
    if run.next_step:
        rows.append(("next", f'<code class="cmd">{e(run.next_step)}</code>'))
    cap = float(run.settings.get("max_cost") or 0)
    rows += [("mode", e(run.mode)), ("folder", f"<code>{e(run.workdir)}</code>")]
    if run.batch_id:
        rows.append(("batch", e(run.batch_id)))
    if run.branch:
        files = "" if run.files_changed is None else f" · {run.files_changed} file(s) changed"
        rows.append(("branch", f"<code>{e(run.branch)}</code>{files}"))
    rows += [("started", when(run.started_at)), ("ended", when(run.ended_at)),
             ("turns", str(len(turns))),
             ("spend", f"{money(run.total_cost_usd)}: supervisor {money(run.cost_usd)} over "
                       f"{len(calls)} calls + Claude ~{money(run.claude_cost_usd)} for "
                       f"{run.claude_tokens} tokens (an API-equivalent estimate)"
                       + (f" · cap {money(cap)}" if cap else "")),
             ("node", e(run.host) + (f" · Ray job <code>{e(run.job_id)}</code>"
                                     if run.job_id else "")),
             ("watch", f"on {e(run.host)}: <code>{e(attach_command(run))}</code>")]
    body = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    return f'<table class="facts">{body}</table>'


def timeline(run: RunRecord, turns: Sequence[TurnRecord], calls: Sequence[SupervisorCall],
             pauses: Sequence[Pause], checks: Sequence[Verification], e: Esc) -> str:
    """Everything that happened in the run, oldest first."""
    running = run.status == "running"
    events: list[tuple[datetime, int, str]] = []
    events += [(t.sent_at, 1, _turn(t, running, e)) for t in turns]
    events += [(c.at, 0, _call(c, e)) for c in calls]
    events += [(p.started_at, 2, _pause(p, e)) for p in pauses]
    events += [(c.at, 3, _check(c, e)) for c in checks]
    events.sort(key=lambda ev: (ev[0], ev[1]))
    out = [ev[2] for ev in events] or ['<p class="dim">nothing has happened yet</p>']
    if run.summary:
        out.append(f"<h3>Summary (the supervisor's)</h3>{e.block(run.summary)}")
    if run.diffstat:
        out.append(f"<h3>Changes on {e(run.branch or 'the folder')}</h3>{e.block(run.diffstat)}")
    return "".join(out)


def run_body(run: RunRecord, turns: Sequence[TurnRecord], calls: Sequence[SupervisorCall],
             pauses: Sequence[Pause], checks: Sequence[Verification], e: Esc) -> str:
    """The run's head, its task and its timeline."""
    name = label(run, turns[0].message if turns else None)
    task = f"<h2>Task</h2>{e.block(run.task)}" if run.task.strip() else ""
    return (f'<h1>{e(name)}</h1><div class="dim mono">run {e(run.id)}</div>'
            f"{facts(run, turns, calls, e)}{task}<h2>Timeline</h2>"
            f"{timeline(run, turns, calls, pauses, checks, e)}")


def export_run(run: RunRecord, turns: Sequence[TurnRecord], calls: Sequence[SupervisorCall],
               pauses: Sequence[Pause], checks: Sequence[Verification], e: Esc) -> str:
    """`show RUN --html`: one self-contained file, nothing fetched, no script."""
    return document(f"run {run.id}", run_body(run, turns, calls, pauses, checks, e) + _made(),
                    esc=e)


def export_batch(batch_id: str, runs: Sequence[tuple[RunRecord, Sequence[TurnRecord],
                                                     Sequence[SupervisorCall], Sequence[Pause],
                                                     Sequence[Verification]]],
                 e: Esc) -> str:
    """`show --batch ID --html`: the batch's table, then each run's timeline."""
    rows = []
    for n, (run, *_rest) in enumerate(runs, 1):
        rows.append(f'<tr><td class="n">{n}</td><td><a href="#run-{e(run.id)}">{e(label(run))}'
                    f"</a></td><td>{status_tag(run.status)}</td><td class=\"n\">{run.turns}"
                    f'</td><td class="n">{money(run.total_cost_usd)}</td>'
                    f"<td><code>{e(run.branch or '-')}</code></td><td class=\"mono\">"
                    f"{e(run.id)}</td></tr>")
    total = sum(r[0].total_cost_usd for r in runs)
    head = (f"<h1>batch {e(batch_id)}</h1><p>{len(runs)} run(s), {money(total)} in all "
            "(Claude's part an API-equivalent estimate)</p><table><tr><th>#</th><th>task</th>"
            "<th>status</th><th class=\"n\">turns</th><th class=\"n\">cost</th><th>branch</th>"
            f"<th>run</th></tr>{''.join(rows)}</table>")
    bodies = "".join(f'<section id="run-{e(r[0].id)}"><hr>{run_body(*r, e)}</section>'
                     for r in runs)
    return document(f"batch {batch_id}", head + bodies + _made(), esc=e)


def _made() -> str:
    return (f'<p class="dim">exported by claude-orchestrator '
            f"{when(datetime.now(UTC))}</p>")
