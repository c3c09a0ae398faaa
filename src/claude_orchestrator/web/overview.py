"""`/`: the night at a glance. What got done, what failed, what waits for a person (with the
command that continues it), what it cost against the caps, and the pauses apart from the work.

The page has two parts: the live part (counts, the "needs you" lane, the runs at work), which
the server re-renders once per change of the run log for every open page alike, and the rest
(plots, per batch and day, every run of the window), drawn when the page loads.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from claude_orchestrator.runlog import Pause, RunLog, RunRecord, Verification
from claude_orchestrator.runlog.overview import (
    PersonTurn,
    Spend,
    last_checks,
    pauses_of,
    person_turns,
    run_signatures,
    runs_by_id,
    spend_since,
    turns_per_hour,
)
from claude_orchestrator.runlog.tables import short_ids, span
from claude_orchestrator.web.html import Esc, money, status_tag, when
from claude_orchestrator.web.needs import Need, attach_command, category, needs_you
from claude_orchestrator.web.plots import spend_plot, turns_plot
from claude_orchestrator.web.timeline import label

RECENT = timedelta(minutes=15)  # a run that ended this recently stays among those "at work"
LANE_MOST = 40  # the lane's items (the newest first; the rest are counted)
SCREENS_MOST = 3  # live screens shown in the lane (a tmux call each)
Screens = Callable[[RunRecord], "str | None"]  # the live pane text of a run, when there is one


@dataclass(frozen=True)
class Night:
    """The runs of a window and what the page shows of them."""

    start: datetime
    end: datetime
    runs: list[RunRecord]
    first: Mapping[str, str]
    short: Mapping[str, str]
    people: Mapping[str, list[PersonTurn]]
    pauses: Mapping[str, list[Pause]]
    needs: Mapping[str, Need | None]  # web/needs.py's verdict per run, made once
    kinds: Mapping[str, str]  # its category


class NightCache:
    """The window's runs, kept between two looks: each look reads one light row per run and
    reads again only the runs whose row changed (and those at work), so the live part of the
    page costs little however many runs the night had."""

    def __init__(self) -> None:
        self._runs: dict[str, tuple[tuple[object, ...], RunRecord, list[PersonTurn],
                                    list[Pause], str | None, Need | None, str]] = {}
        self._short: tuple[tuple[str, ...], dict[str, str]] = ((), {})
        self._lock = threading.Lock()

    def load(self, log: RunLog, now: datetime, hours: float) -> Night:
        start = now - timedelta(hours=hours)
        with self._lock:
            signatures = run_signatures(log, start)
            stale = [run_id for run_id, sig in signatures
                     if run_id not in self._runs or self._runs[run_id][0] != sig
                     or sig[0] in ("running", "queued")]
            if stale:
                records = runs_by_id(log, stale)
                people, pauses = person_turns(log, stale), pauses_of(log, stale)
                first = log.first_messages([i for i in stale if not records[i].task.strip()])
                sigs = dict(signatures)
                for run_id, run in records.items():
                    self._runs[run_id] = (sigs[run_id], run, people.get(run_id, []),
                                          pauses.get(run_id, []), first.get(run_id),
                                          needs_you(run), category(run))
            ids = tuple(run_id for run_id, _ in signatures if run_id in self._runs)
            for gone in set(self._runs) - set(ids):
                del self._runs[gone]
            if self._short[0] != ids:
                self._short = (ids, short_ids(ids, ids))
            kept = [self._runs[i] for i in ids]
            return Night(start, now, [k[1] for k in kept],
                         {k[1].id: k[4] for k in kept if k[4] is not None}, self._short[1],
                         {k[1].id: k[2] for k in kept if k[2]},
                         {k[1].id: k[3] for k in kept if k[3]},
                         {k[1].id: k[5] for k in kept}, {k[1].id: k[6] for k in kept})


def load(log: RunLog, now: datetime, hours: float) -> Night:
    """The window's runs (those still at work too), with what the live part needs."""
    return NightCache().load(log, now, hours)


def _paused(pauses: Sequence[Pause], now: datetime) -> float:
    return sum(((p.ended_at or now) - p.started_at).total_seconds() for p in pauses)


def _run_link(run: RunRecord, night: Night, e: Esc) -> str:
    return (f'<a class="mono" href="/runs/{e(run.id)}" title="{e(run.id)}">'
            f"{e(night.short.get(run.id, run.id))}</a>")


# ----------------------------------------------------------------------------- live part
def cards(night: Night) -> str:
    """How many runs ended how, and what they cost against their caps."""
    counts: dict[str, int] = {}
    for r in night.runs:
        c = night.kinds[r.id]
        counts[c] = counts.get(c, 0) + 1
    waiting = sum(1 for r in night.runs if r.status == "running" and night.needs[r.id])
    sup = sum(r.cost_usd for r in night.runs)
    claude = sum(r.claude_cost_usd for r in night.runs)
    capped = [r for r in night.runs if float(r.settings.get("max_cost") or 0)]
    cap = sum(float(r.settings.get("max_cost") or 0) for r in capped)
    items = [("done", counts.get("done", 0), "ok"), ("failed", counts.get("failed", 0), "bad"),
             ("need you", counts.get("you", 0) + waiting, "you"),
             ("running", counts.get("running", 0), "run"),
             ("queued", counts.get("queued", 0), "dim"),
             ("interrupted", counts.get("stopped", 0), "warn")]
    out = "".join(f'<div class="card" data-count="{name}"><b class="{cls}">{n}</b>{name}</div>'
                  for name, n, cls in items)
    against = (f" · {money(sup + claude)} of {money(cap)} in caps over {len(capped)} capped "
               f"run(s)" if capped else " · no run had a cost cap")
    return (f'<div class="cards">{out}</div><p>Spend: supervisor <b>{money(sup)}</b> + Claude '
            f"<b>~{money(claude)}</b> (Claude's tokens at API prices: an estimate, not a bill)"
            f"{against}</p>")


def lane(night: Night, e: Esc, screens: Screens | None = None) -> str:
    """Every run stopped or waiting for a person, with the command that continues it; and
    the messages people (or someone unknown) gave Claude at the pane."""
    items = []
    needs = [(run, need) for run in night.runs if (need := night.needs[run.id]) is not None]
    shown = 0
    for run, need in needs[:LANE_MOST]:
        look = screens if need.dialog and shown < SCREENS_MOST else None
        shown += look is not None
        items.append(_need_item(run, need, night, e, look))
    if len(needs) > LANE_MOST:
        items.append(f'<div class="item dim">and {len(needs) - LANE_MOST} more (older) in '
                     "the table below</div>")
    people = [run for run in night.runs if night.people.get(run.id)]
    for run in people[:LANE_MOST]:
        for p in night.people.get(run.id, [])[-3:]:
            who = "a person at the pane" if p.source == "person" else (
                "someone unknown at the pane (no person attached)")
            items.append(f'<div class="item" data-run="{e(run.id)}"><b>message from {who}</b> '
                         f"to {_run_link(run, night, e)} at {when(p.at, '%H:%M')}: "
                         f"<code>{e(p.message[:200])}</code> · {e(label(run))}</div>")
    if not items:
        return ('<div class="lane empty" id="needs-you"><h2>Needs you</h2><p class="dim">'
                "nothing waits for you</p></div>")
    return f'<div class="lane" id="needs-you"><h2>Needs you</h2>{"".join(items)}</div>'


def _need_item(run: RunRecord, need: Need, night: Night, e: Esc,
               screens: Screens | None) -> str:
    screen = screens(run) if (screens is not None and need.dialog) else None
    attach = attach_command(run)
    also = (f' <span class="dim">see it:</span> <code class="cmd">{e(attach)}</code>'
            if need.dialog and attach and attach not in need.command else "")
    command = (f'<div>continue: <code class="cmd">{e(need.command)}</code>{also}</div>'
               if need.command else "")
    shown = (f'<div class="dim">on Claude\'s screen now:</div>{e.block(screen)}'
             if screen else "")
    return (f'<div class="item" data-run="{e(run.id)}">{status_tag(run.status)} '
            f"{_run_link(run, night, e)} <b>{e(label(run, night.first.get(run.id)))}</b>"
            f'<div class="you">{e(need.reason)}</div>{command}{shown}</div>')


def at_work(night: Night, e: Esc) -> str:
    """The runs in progress, and those that ended in the last minutes."""
    recent = night.end - RECENT
    rows = [r for r in night.runs if r.status in ("running", "queued")
            or (r.ended_at is not None and r.ended_at >= recent)]
    if not rows:
        return '<h2>At work</h2><p class="dim" id="at-work">no run is at work</p>'
    # Runs on other machines (a Ray cluster's nodes): the node, the job, how to watch there.
    here = socket.gethostname()
    spread = any(r.job_id or r.host != here for r in rows)
    body = []
    for r in sorted(rows, key=lambda r: (r.status != "running", -r.started_at.timestamp())):
        now = (r.activity or "starting") if r.status == "running" else r.status
        took = span(((r.ended_at or night.end) - r.started_at).total_seconds())
        where = ""
        if spread:
            watch = attach_command(r) if r.status == "running" else ""
            where = (f'<td class="mono">{e(r.host)}</td><td class="mono">{e(r.job_id or "-")}'
                     f'</td><td>{f"<code>{e(watch)}</code>" if watch else "-"}</td>')
        body.append(f'<tr data-run="{e(r.id)}"><td>{_run_link(r, night, e)}</td>'
                    f"<td>{e(label(r, night.first.get(r.id)))}</td>"
                    f"<td>{status_tag(r.status, now)}</td><td class=\"n\">{r.turns}</td>"
                    f'<td class="n">{money(r.total_cost_usd)}</td><td class="n">{took}</td>'
                    f"{where}</tr>")
    heads = "<th>node</th><th>ray job</th><th>watch there</th>" if spread else ""
    return ('<h2>At work</h2><table id="at-work"><tr><th>run</th><th>task</th><th>now</th>'
            '<th class="n">turns</th><th class="n">spend</th><th class="n">elapsed</th>'
            f"{heads}</tr>{''.join(body)}</table>")


def live_part(night: Night, e: Esc, screens: Screens | None = None) -> str:
    """What changes while runs work: re-rendered once per change, for every page alike."""
    stamp = when(night.end, "%H:%M:%S")
    return (f'{cards(night)}{lane(night, e, screens)}{at_work(night, e)}'
            f'<p class="dim" id="live-stamp">as of {stamp}</p>')


# ----------------------------------------------------------------------------- the rest
def by_batch_and_day(night: Night, e: Esc) -> str:
    groups: dict[str, list[RunRecord]] = {}
    for r in night.runs:
        key = r.batch_id or f"{r.started_at.astimezone():%Y-%m-%d} (single runs)"
        groups.setdefault(key, []).append(r)
    rows = []
    for key, runs in groups.items():
        n = {c: sum(1 for r in runs if night.kinds[r.id] == c)
             for c in ("done", "failed", "you", "running", "queued", "stopped")}
        cost = sum(r.total_cost_usd for r in runs)
        cells = "".join(f'<td class="n">{n[c] or ""}</td>' for c in n)
        rows.append(f"<tr><td class=\"mono\">{e(key)}</td><td class=\"n\">{len(runs)}</td>"
                    f'{cells}<td class="n">{money(cost)}</td></tr>')
    return ('<h2>Per batch and day</h2><table id="by-batch"><tr><th>batch or day</th>'
            '<th class="n">runs</th><th class="n">done</th><th class="n">failed</th>'
            '<th class="n">for a person</th><th class="n">running</th><th class="n">queued</th>'
            '<th class="n">interrupted</th><th class="n">spend</th></tr>'
            f"{''.join(rows)}</table>")


ROWS = 200  # runs in the table unless all are asked for (?all=1)


def every_run(night: Night, checks: Mapping[str, Verification], e: Esc,
              limit: int = ROWS) -> str:
    rows = []
    for r in night.runs[:limit]:
        check = checks.get(r.id)
        verdict = ("-" if check is None else
                   '<span class="ok">passed</span>' if check.status == 0 else
                   f'<span class="bad">exit {check.status}</span>' if check.status is not None
                   else '<span class="bad">timed out</span>')
        branch = "-" if not r.branch else (
            f"<code>{e(r.branch)}</code>"
            + ("" if r.files_changed is None else f" · {r.files_changed} file(s)"))
        cap = float(r.settings.get("max_cost") or 0)
        pauses = night.pauses.get(r.id, [])
        paused = _paused(pauses, night.end)
        whole = ((r.ended_at or night.end) - r.started_at).total_seconds()
        resets = ", ".join(when(p.until_at, "%H:%M") for p in pauses if p.until_at)
        pause_text = (f"{span(paused)}" + (f" (resets {resets})" if resets else "")
                      if pauses else "-")
        rows.append(
            f'<tr data-run="{e(r.id)}"><td>{_run_link(r, night, e)}</td>'
            f"<td>{status_tag(r.status)}</td><td>{e(label(r, night.first.get(r.id)))}</td>"
            f'<td class="n">{r.turns}</td><td>{verdict}</td><td>{branch}</td>'
            f'<td class="n">{money(r.cost_usd)} + ~{money(r.claude_cost_usd)}</td>'
            f'<td class="n">{money(cap) if cap else "-"}</td>'
            f'<td class="n">{span(max(0.0, whole - paused))}</td><td>{pause_text}</td>'
            f'<td class="n">{when(r.started_at, "%m-%d %H:%M")}</td></tr>')
    hours = (night.end - night.start).total_seconds() / 3600
    more = (f'<p class="dim" id="more-runs">{len(night.runs) - limit} older run(s) of the '
            f'window not listed: <a href="/?hours={hours:g}&amp;all=1">list them all</a></p>'
            if len(night.runs) > limit else "")
    return ('<h2>Every run</h2><table id="runs"><tr><th>run</th><th>status</th><th>task</th>'
            '<th class="n">turns</th><th>check</th><th>branch</th>'
            '<th class="n">spend (supervisor + Claude est.)</th><th class="n">cap</th>'
            '<th class="n">work</th><th>paused (limits)</th><th class="n">started</th></tr>'
            f"{''.join(rows)}</table>{more}")


def plots(log: RunLog, night: Night, e: Esc) -> str:
    """From the first run of the window (an hour before now at least) to now."""
    spend: list[Spend] = spend_since(log, night.start)
    names = {r.id: night.short.get(r.id, r.id) for r in night.runs}
    first = min((r.started_at for r in night.runs), default=night.end)
    start = max(night.start, min(first, night.end - timedelta(hours=1)))
    return ("<h2>Spend over the night</h2>" + spend_plot(spend, start, night.end)
            + "<h2>Turns per hour, per run</h2>"
            + turns_plot(turns_per_hour(log, start), names, start, night.end, e))


def overview_body(log: RunLog, night: Night, e: Esc, *, hours: float,
                  screens: Screens | None = None, rows: int = ROWS) -> str:
    """The whole page's body: the live part in its container, then the rest (the table:
    the newest `rows` runs)."""
    checks = last_checks(log, [r.id for r in night.runs[:rows]])
    head = (f'<h1>The night at a glance</h1><p class="dim"><span class="live-dot" '
            f'id="live-dot"></span>the last {hours:g} hours, since '
            f"{when(night.start, '%a %H:%M')} · <a href=\"/api/runs\">JSON</a></p>")
    return (f'{head}<div id="live">{live_part(night, e, screens)}</div>'
            f"{plots(log, night, e)}{by_batch_and_day(night, e)}"
            f"{every_run(night, checks, e, rows)}")


def utcnow() -> datetime:
    return datetime.now(UTC)
