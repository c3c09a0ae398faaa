"""How runs read in a terminal: one line per run for `runs`, the whole run for `show`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from claude_orchestrator.runlog import Pause, RunRecord, SupervisorCall, TurnRecord, Verification


def _local(dt: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return "-" if dt is None else dt.astimezone().strftime(fmt)


def first_line(text: str) -> str:
    """The first line with something on it: what a task is called in tables and notes."""
    return next((s.strip() for s in text.splitlines() if s.strip()), "")


def clip(line: str, width: int, more: str = "…") -> str:
    """`line` cut to `width` characters, `more` marking the cut."""
    return line if len(line) <= width else line[: width - len(more)] + more


def _first_line(text: str, width: int = 60) -> str:
    return clip(first_line(text), width, "...")


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in (text.splitlines() or [""]))


_FILE_TOOLS = {"Write": "wrote", "Edit": "edited", "MultiEdit": "edited",
               "NotebookEdit": "edited"}


def _tools(tools: Sequence[dict[str, object]]) -> list[str]:
    """What Claude did in a turn: each command it ran, each file it wrote or edited, and the
    other tools it used, one line each (a failed one marked)."""
    out = []
    for t in tools:
        name, detail = str(t.get("tool") or "?"), str(t.get("detail") or "")
        failed = " (failed)" if t.get("failed") else ""
        first = detail.splitlines()[0] if detail.strip() else ""
        more = " ..." if len(detail.splitlines()) > 1 else ""
        if name == "Bash":
            out.append(f"  Claude ran: $ {first}{more}{failed}")
        elif name in _FILE_TOOLS:
            out.append(f"  Claude {_FILE_TOOLS[name]}: {first}{failed}")
        else:
            out.append(f"  Claude used {name}: {_first_line(detail, 80)}{failed}")
    return out


def _turn_count(run: RunRecord, turns: Sequence[TurnRecord]) -> str:
    """How many messages went to Claude, and how they ended: the blocks below, counted."""
    answered = sum(t.status == "done" for t in turns)
    rest = len(turns) - answered
    if not rest:
        return f"{answered}"
    left = ("in flight" if run.status == "running" and turns[-1].status == "sent"
            else "without a reply")
    return f"{len(turns)}: {answered} answered, {rest} {left}"


def format_run_detail(run: RunRecord, turns: list[TurnRecord], calls: list[SupervisorCall],
                      pauses: Sequence[Pause] = (), checks: Sequence[Verification] = ()) -> str:
    """The whole run for ``show``: its fields, then every turn's message and reply, with the
    pauses and checks where they happened."""
    fields = [
        ("status", run.status + (f" (exit {run.exit_code})" if run.exit_code is not None else "")),
        ("outcome", run.message or "-"),
        *([("next", run.next_step)] if run.next_step else []),
        ("mode", run.mode), ("workdir", run.workdir),
        ("model", run.model or "-"), ("started", _local(run.started_at)),
        ("ended", _local(run.ended_at)),
        ("tmux", f"session {run.session or '-'} on socket {run.socket or '-'}, on {run.host}"
                 + (f" (watch: {run.attach})" if run.session else "")),
        *([("ray job", run.job_id)] if run.job_id else []),
        ("agent session", run.agent_session_id or "-"), ("pid", f"{run.pid} on {run.host}"),
        ("turns", _turn_count(run, turns)),
        ("tokens", f"{run.prompt_tokens} prompt + {run.completion_tokens} completion"),
        ("cost", f"${run.total_cost_usd:.4f}: supervisor ${run.cost_usd:.4f} over {len(calls)} "
                 f"calls + Claude ~${run.claude_cost_usd:.4f} for {run.claude_tokens} tokens "
                 "(an estimate)"),
        ("settings", json.dumps(run.settings, sort_keys=True)),
    ]
    if run.batch_id:
        fields.insert(4, ("batch", run.batch_id))
    if run.branch:
        where = (f"cloned from and pushed to {run.git_remote}, worked in {run.workdir} on "
                 f"{run.host}" if run.git_remote else f"git worktree at {run.workdir}")
        fields.insert(4, ("branch", f"{run.branch} ({where})"))
    out = [f"Run {run.id}", *(f"  {name + ':':<15}{value}" for name, value in fields)]
    if run.task.strip():
        out += ["", "Task:", _indent(run.task, "  ")]
    for t in turns:
        took = f" in {(t.ended_at - t.sent_at).total_seconds():.1f}s" if t.ended_at else ""
        how = f" by {t.ended_by}" if t.ended_by else ""
        who = ("" if t.source in ("supervisor", "chat") else
               " (unattributed: no person's terminal was active)" if t.source == "unattributed"
               else f" (from a {t.source} at the pane)")
        out += ["", f"=== turn {t.seq}  {t.status}{how}{took}  sent {_local(t.sent_at)}{who} ===",
                "--> sent to the agent:", _indent(t.message, "  | ")]
        for p in pauses:
            if p.turn_seq == t.seq:
                ended = _local(p.ended_at) if p.ended_at else "not ended"
                until = f", until {_local(p.until_at)}" if p.until_at else ""
                out.append(f"  (paused: {p.reason} from {_local(p.started_at)}{until}; "
                           f"ended {ended}: {_first_line(p.text or '', 100)})")
        if t.recovery:
            out.append(f"  (recovery: {t.recovery})")
        if t.error:
            out.append(f"  (error: {t.error})")
        if t.reply is not None:
            out += ["<-- reply:", _indent(t.reply, "    ")]
        elif t.status == "sent" and run.status == "running":
            out.append("<-- no reply yet (in flight)")
        elif t.status == "sent":
            out.append(f"<-- no reply recorded: the run ended ({run.status}) while it was in "
                       "flight")
        out += _tools(t.tools)
        if t.claude_tokens:
            out.append(f"  (Claude: {t.claude_tokens} tokens, ~${t.claude_cost_usd:.4f})")
    if run.summary:
        out += ["", "Summary (the supervisor's):", _indent(run.summary, "  ")]
    if run.diffstat:
        out += ["", f"Changes on {run.branch} against {(run.base_commit or '')[:12]} "
                    f"(claude-orchestrator review {run.id}):", _indent(run.diffstat, "  ")]
    for c in checks:
        result = f"exit {c.status}" if c.status is not None else "did not finish"
        out += ["", f"=== check {c.seq}  {result} in {c.seconds:.1f}s  at {_local(c.at)} ===",
                _indent(c.command, "  $ ")]
        if c.output:
            out.append(_indent(c.output, "    "))
    return "\n".join(out)


def _when(dt: datetime | None) -> str | None:
    return None if dt is None else dt.isoformat()


def run_json(run: RunRecord, latest: tuple[int, str] | None = None,
             first_message: str | None = None) -> dict[str, object]:
    """One run as `runs --json` prints it (the keys are stable: see the README)."""
    in_flight = latest is not None and latest[1] == "sent" and run.status == "running"
    return {
        "id": run.id, "status": run.status, "exit_code": run.exit_code, "mode": run.mode,
        "task": run.task, "label": first_line(run.task) or first_line(first_message or ""),
        "workdir": run.workdir, "batch": run.batch_id, "branch": run.branch,
        "repo": run.repo, "base_commit": run.base_commit, "worktree": run.worktree,
        "git_remote": run.git_remote, "files_changed": run.files_changed,
        "started_at": _when(run.started_at), "ended_at": _when(run.ended_at),
        "turns": run.turns, "in_flight": in_flight,
        "activity": run.activity if run.status == "running" else None,
        "cost_usd": round(run.total_cost_usd, 6),
        "supervisor": {"prompt_tokens": run.prompt_tokens,
                       "completion_tokens": run.completion_tokens,
                       "cost_usd": round(run.cost_usd, 6)},
        "claude": {"tokens": run.claude_tokens, "cost_usd": round(run.claude_cost_usd, 6),
                   "estimate": True},
        "message": run.message, "summary": run.summary, "next_step": run.next_step,
        "tmux": {"session": run.session, "socket": run.socket}, "pid": run.pid,
        "host": run.host, "job_id": run.job_id,
    }


def run_detail_json(run: RunRecord, turns: Sequence[TurnRecord],
                    calls: Sequence[SupervisorCall], pauses: Sequence[Pause] = (),
                    checks: Sequence[Verification] = ()) -> dict[str, object]:
    """One run as `show --json` prints it: `runs --json`'s facts, then everything in it."""
    first = turns[0].message if turns else None
    latest = (turns[-1].seq, turns[-1].status) if turns else None
    return {
        **run_json(run, latest, first), "settings": run.settings, "diffstat": run.diffstat,
        "turns_list": [{
            "seq": t.seq, "status": t.status, "source": t.source, "message": t.message,
            "reply": t.reply, "ended_by": t.ended_by, "sent_at": _when(t.sent_at),
            "delivered_at": _when(t.delivered_at), "ended_at": _when(t.ended_at),
            "recovery": t.recovery, "error": t.error, "claude_tokens": t.claude_tokens,
            "claude_cost_usd": round(t.claude_cost_usd, 6), "tools": list(t.tools),
        } for t in turns],
        "supervisor_calls": [{
            "seq": c.seq, "at": _when(c.at), "prompt_tokens": c.prompt_tokens,
            "completion_tokens": c.completion_tokens, "cost_usd": c.cost_usd,
            "attempts": c.attempts, "reply": c.reply} for c in calls],
        "pauses": [{"seq": p.seq, "turn": p.turn_seq, "reason": p.reason,
                    "started_at": _when(p.started_at), "until": _when(p.until_at),
                    "ended_at": _when(p.ended_at), "text": p.text} for p in pauses],
        "checks": [{"seq": c.seq, "at": _when(c.at), "command": c.command,
                    "status": c.status, "seconds": c.seconds, "output": c.output}
                   for c in checks],
    }
