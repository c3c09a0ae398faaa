"""Which runs wait for a person, why, and the one command that continues each: the page's
"needs you" lane (and, through `notify.py`, the notifications) decide it the same way.

A run needs a person when it stopped short for a reason only a person can clear (a stuck loop,
a budget, Claude Code's or the supervisor's refusal, a question or dialog on Claude's screen),
or while it runs but waits on a question in its pane. Ctrl-C or SIGTERM is the person's own
doing and not listed; a run whose orchestrator died is (it was not asked to stop).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from claude_orchestrator.runlog import RunRecord


@dataclass(frozen=True)
class Need:
    """Why a run waits for a person, and what to type."""

    reason: str
    command: str
    dialog: bool = False  # the screen holds what to answer (an unknown dialog, a question)


def attach_command(run: RunRecord) -> str:
    """The command that shows the run's Claude in tmux."""
    if not run.socket or not run.session:
        return ""
    return f"tmux -L {shlex.quote(run.socket)} attach -t {shlex.quote(run.session)}"


def needs_you(run: RunRecord) -> Need | None:
    """Why `run` waits for a person, or None.

    >>> from datetime import datetime, timezone
    >>> r = RunRecord(id='r1', mode='autonomous', task='t', workdir='/w', model=None,
    ...     session='s', socket='k', agent_session_id=None, settings={}, status='stuck',
    ...     exit_code=6, message='no progress', started_at=datetime.now(timezone.utc),
    ...     ended_at=None, pid=1, host='h', turns=3, prompt_tokens=0, completion_tokens=0,
    ...     cost_usd=0.0, next_step='claude-orchestrator resume r1')
    >>> needs_you(r).reason, needs_you(r).command
    ('stuck: the same message or reply kept coming (exit 6)', 'claude-orchestrator resume r1')
    """
    step = run.next_step or ""
    if run.status == "running":
        activity = run.activity or ""
        if activity.startswith("waiting"):
            return Need("waiting: Claude shows a question nobody has answered",
                        attach_command(run), dialog=True)
        return None
    if run.status == "stuck":
        return Need(f"stuck: the same message or reply kept coming (exit {run.exit_code})",
                    step)
    if run.status == "budget":
        return Need(f"budget: {run.message or 'a budget ran out'}", step)
    if run.status == "refused":
        return Need(f"the supervisor's API refuses: {run.message or ''}".rstrip(": "), step)
    if run.status == "failed" and "answer it in tmux" in step:
        return Need(f"a question or dialog on Claude's screen: {run.message or ''}"
                    .rstrip(": "), step, dialog=True)
    if run.status == "failed" and run.exit_code == 5:
        return Need(f"Claude Code cannot work (exit 5): {run.message or ''}".rstrip(": "),
                    step)
    if run.status == "interrupted" and (run.ended_at is None
                                        or run.message == "the orchestrator process died"):
        return Need("its orchestrator died", step or f"claude-orchestrator resume {run.id}")
    return None


def category(run: RunRecord) -> str:
    """done, failed, you (stopped for a person), running, queued or stopped: how a night's
    counts sort a run."""
    if run.status == "running":
        return "running"
    if run.status == "queued":
        return "queued"
    if run.status in ("complete", "quit"):
        return "done"
    if needs_you(run) is not None:
        return "you"
    if run.status == "interrupted":
        return "stopped"
    return "failed"
