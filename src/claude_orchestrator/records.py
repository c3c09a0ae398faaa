"""The commands that read (and tidy) the run log: `runs`, `show`, `batches`, `review`, `merge`
and `clean`. Each opens the log read-only unless it must write (`clean` notes a removed
worktree); `runs --watch` is runlog/live.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from claude_orchestrator.config import RUNLOG_HELP, runlog_target
from claude_orchestrator.errors import UsageError
from claude_orchestrator.flags import Parser
from claude_orchestrator.runlog import RunLog, RunLogMissing, open_runlog
from claude_orchestrator.runlog.format import format_run_detail, run_detail_json, run_json
from claude_orchestrator.runlog.tables import RunFacts, runs_listing, short_ids
from claude_orchestrator.screen import terminal_safe

if TYPE_CHECKING:
    from rich.console import Console

COMMANDS = ("runs", "show", "batches", "review", "merge", "clean")


def parser(name: str) -> argparse.ArgumentParser:
    p = Parser(prog=f"claude-orchestrator {name}")
    if name == "runs":
        p.description = "The recorded runs, newest first."
        p.add_argument("--limit", type=int, default=50, help="how many runs (newest first)")
        p.add_argument("--watch", action="store_true",
                       help="a live table of the runs in progress and just finished (q leaves)")
        p.add_argument("--batch", metavar="BATCH_ID", help="only this batch's runs")
    elif name == "batches":
        p.description = "The batches, newest first: their runs by status, and what they cost."
    elif name == "clean":
        p.description = ("Remove runs' worktrees and branches: RUN's, a batch's (--batch), or "
                         "every run branch already merged into its repository's current "
                         "branch (--merged). A branch not merged is named with the commit "
                         "that brings it back.")
        p.add_argument("run", nargs="?", help="run id (or a unique prefix or suffix)")
        p.add_argument("--batch", metavar="BATCH_ID", help="every run of this batch")
        p.add_argument("--merged", action="store_true",
                       help="only the runs whose branch is merged")
    elif name == "show":
        p.add_argument("run", nargs="?",
                       help="run id (or a unique prefix or suffix), as `runs` prints it")
        p.add_argument("--batch", metavar="BATCH_ID",
                       help="every run of a batch (with --html: one file for the batch)")
        p.add_argument("--html", action="store_true",
                       help="one self-contained HTML page (styles inline, nothing fetched, "
                            "secrets redacted) on stdout: the run's timeline, to attach or "
                            "mail")
    else:
        p.add_argument("run", help="run id (or a unique prefix or suffix), as `runs` prints it")
    if name == "review":
        p.description = ("Print what a run changed: its branch's diff against the commit it "
                         "started from (a run in place: its folder against that commit).")
        p.add_argument("--tool", help="open it in `git difftool --tool TOOL` instead")
    if name == "merge":
        p.description = ("Merge a run's branch into your current branch with a merge commit "
                         "(Claude's commits kept), or --squash into one commit. Refused, with "
                         "nothing changed, on uncommitted changes or a conflict.")
        p.add_argument("--squash", action="store_true", help="one commit instead of a merge")
    if name in ("runs", "show", "batches"):
        p.add_argument("--json", action="store_true",
                       help="the same facts as JSON (stable keys: see the README)")
    if name == "show":
        p.add_argument("--raw", action="store_true",
                       help="print the stored text as it is (control sequences are otherwise "
                            "shown as escapes, never sent to the terminal)")
    p.add_argument("--runlog", help=RUNLOG_HELP)
    return p


def main(name: str, args: list[str], environ: Mapping[str, str] | None = None) -> int:
    ns = parser(name).parse_args(args)
    if name == "clean" and sum(bool(x) for x in (ns.run, ns.batch, ns.merged)) != 1:
        raise UsageError("clean takes one of: RUN, --batch BATCH_ID, --merged")
    if name == "show":
        _check_show(ns)
    source = "--runlog" if ns.runlog else "CLAUDE_ORCHESTRATOR_RUNLOG"
    path = runlog_target(source, ns.runlog or os.environ.get("CLAUDE_ORCHESTRATOR_RUNLOG"))
    try:
        log = open_runlog(path, readonly=name != "clean")
    except RunLogMissing:
        if name == "runs" and ns.watch:
            from claude_orchestrator.runlog.live import watch

            return watch(lambda: open_runlog(path, readonly=True), batch_id=ns.batch)
        if name in ("runs", "batches"):
            print("[]" if ns.json else "no runs recorded yet")
            return 0
        raise UsageError("nothing is recorded yet (no run log)") from None
    with log:
        return _command(name, ns, log, os.environ if environ is None else environ)


def _command(name: str, ns: argparse.Namespace, log: RunLog,
             environ: Mapping[str, str]) -> int:
    from claude_orchestrator import review

    if name == "runs" and ns.watch:
        from claude_orchestrator.runlog.live import watch

        return watch(log, batch_id=ns.batch)
    if name == "runs":
        runs = log.batch_runs(ns.batch) if ns.batch else log.list_runs(limit=ns.limit)
        if ns.batch and not runs:
            raise UsageError(f"no batch {ns.batch!r} (claude-orchestrator batches lists them)")
        ids = [r.id for r in runs]
        latest, first = log.latest_turns(ids), log.first_messages(ids)
        if ns.json:
            print(json.dumps([run_json(r, latest.get(r.id), first.get(r.id)) for r in runs],
                             indent=2))
        elif not runs:
            print("no runs recorded yet")
        else:
            console = _console()
            shown = ({i: i for i in ids} if console.width >= 120 else
                     short_ids(ids, log.all_ids()))
            facts = [RunFacts.of(r, latest.get(r.id), first.get(r.id)) for r in runs]
            console.print(runs_listing(facts, shown, console.width))
        return 0
    if name == "batches":
        found = log.batches()
        if ns.json:
            print(json.dumps([b.as_dict() for b in found], indent=2))
        elif not found:
            print("no batch recorded yet")
        else:
            for b in found:
                counts = ", ".join(f"{n} {s}" for s, n in b.statuses.items())
                print(terminal_safe(f"{b.id}  {b.started:%Y-%m-%d %H:%M}  {b.runs} run(s): "
                                    f"{counts}  ${b.cost_usd:.4f}"))
        return 0
    if name == "show" and ns.html:
        return _show_html(ns, log, environ)
    if name == "show":
        run = log.get_run(ns.run)
        turns, calls = log.turns(run.id), log.supervisor_calls(run.id)
        pauses, checks = log.pauses(run.id), log.verifications(run.id)
        if ns.json:
            print(json.dumps(run_detail_json(run, turns, calls, pauses, checks), indent=2))
            return 0
        detail = format_run_detail(run, turns, calls, pauses, checks)
        print(detail if ns.raw else terminal_safe(detail))
        return 0
    if name == "review":
        return review.review(log.get_run(ns.run), tool=ns.tool)
    if name == "merge":
        return review.merge(log.get_run(ns.run), squash=ns.squash)
    if ns.batch:
        runs = log.batch_runs(ns.batch)
        if not runs:
            raise UsageError(f"no batch {ns.batch!r} (claude-orchestrator batches lists them)")
    elif ns.run:
        runs = [log.get_run(ns.run)]
    else:
        runs = [r for r in log.list_runs(limit=1_000_000) if r.branch]
    return review.clean(runs, log, only_merged=ns.merged)


def _check_show(ns: argparse.Namespace) -> None:
    if (ns.run is None) == (ns.batch is None):
        raise UsageError("show takes RUN or --batch BATCH_ID (see claude-orchestrator show "
                         "--help)")
    if ns.batch and not ns.html:
        raise UsageError("show --batch BATCH_ID goes with --html (runs --batch BATCH_ID lists "
                         "its runs)")
    if ns.html and (ns.json or ns.raw):
        raise UsageError("--html is a page of its own: leave out --json and --raw")


def _show_html(ns: argparse.Namespace, log: RunLog, environ: Mapping[str, str]) -> int:
    """One self-contained page on stdout: a run's timeline, or a batch's runs."""
    from claude_orchestrator.web.html import Esc
    from claude_orchestrator.web.redaction import page_redactor
    from claude_orchestrator.web.timeline import export_batch, export_run

    runs = log.batch_runs(ns.batch) if ns.batch else [log.get_run(ns.run)]
    if not runs:
        raise UsageError(f"no batch {ns.batch!r} (claude-orchestrator batches lists them)")
    e = Esc(page_redactor(environ, runs))
    parts = [(r, log.turns(r.id), log.supervisor_calls(r.id), log.pauses(r.id),
              log.verifications(r.id)) for r in runs]
    page = export_batch(ns.batch, parts, e) if ns.batch else export_run(*parts[0], e)
    sys.stdout.write(page + "\n")
    return 0


def _console() -> Console:
    """stdout as rich sees it: the terminal's width, or 200 columns when piped."""
    from rich.console import Console

    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 200,
                   highlight=False)
