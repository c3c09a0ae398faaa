"""A night of runs written into a real run log through `RunLog`'s own writes (no SQL of ours):
what the web page and the HTML export are tested and measured on when no real run is needed.

Every kind of ending is there: complete (with a check and a branch), failed, stuck, budget,
an unknown dialog, interrupted, a usage-limit pause with its reset, a person at the pane.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from claude_orchestrator.runlog import RunLog

ENDINGS = (
    ("complete", 0, "task complete", ""),
    ("failed", 1, "the tmux server is gone", "claude-orchestrator resume {id}"),
    ("stuck", 6, "no progress: the supervisor sent the same message 3 times",
     "read what happened (claude-orchestrator show {id}), then: claude-orchestrator resume {id}"),
    ("budget", 3, "cost budget reached ($5.0100 of $5)",
     "claude-orchestrator resume {id} --max-cost 10 (a new total, not an increment)"),
    ("failed", 5, "Claude Code shows a question the orchestrator does not know",
     "answer it in tmux (tmux -L night attach -t co-{id}), then: claude-orchestrator resume {id}"),
    ("interrupted", 143, "terminated", "claude-orchestrator resume {id}"),
)


def make_night(path: Path, runs: int, *, batch: str | None = "batch-night-1",
               turns: int = 3, hours: float = 8.0) -> list[str]:
    """`runs` finished runs spread over the last `hours`, `turns` turns each; their ids."""
    now = datetime.now(UTC)
    ids = []
    with RunLog(path) as log:
        log._db.execute("PRAGMA synchronous = OFF")  # a fixture: no need to wait for the disk
        for n in range(runs):
            status, code, message, step = ENDINGS[n % len(ENDINGS)]
            run = log.start_run(mode="autonomous", task=f"Task {n}: tidy module {n}\nin detail",
                                workdir=f"/src/project-{n % 7}", model="anthropic/m",
                                session=f"co-night-{n}", socket="night",
                                settings={"max_cost": 5.0, "verify": "pytest -q"})
            ids.append(run.id)
            log.set_batch(run.id, batch if n % 2 == 0 else None, f"orchestrator/{run.id}")
            for t in range(1, turns + 1):
                log.record_supervisor_call(run.id, reply=f"step {t}", prompt_tokens=900,
                                           completion_tokens=40, cost_usd=0.003,
                                           attempts=1, message_count=2 * t)
                seq = log.begin_turn(run.id, f"step {t} of task {n}").seq
                log.mark_delivered(run.id, seq)
                log.finish_turn(run.id, seq, reply=f"did step {t}", ended_by="hook")
                log.add_claude_usage(run.id, seq, [], 0.01)
            if n % 5 == 0:
                pause = log.begin_pause(run.id, turn_seq=turns, reason="usage limit",
                                        until=now + timedelta(minutes=30),
                                        text="You've hit your limit · resets 3am")
                log.end_pause(run.id, pause)
            if n % 9 == 0:
                seq = log.begin_turn(run.id, "what are you doing?", source="person").seq
                log.finish_turn(run.id, seq, reply="tidying", ended_by="hook")
            log.record_verification(run.id, command="pytest -q", status=0 if code == 0 else 1,
                                    seconds=1.5, output="3 passed")
            if status == "complete":
                log.set_changes(run.id, 2, " a.py | 3 ++-\n b.py | 1 +")
            log.finish_run(run.id, status=status, exit_code=code, message=message,
                           next_step=step.format(id=run.id))
        # Spread the runs over the night (the writes above all happened just now).
        spread = hours * 3600 / max(1, runs)
        for i, run_id in enumerate(ids):
            start = now - timedelta(seconds=hours * 3600 - i * spread)
            log._db.execute("UPDATE runs SET started_at = ?, ended_at = ?, pid = ? WHERE id = ?",
                            (start.isoformat(), (start + timedelta(minutes=20)).isoformat(),
                             os.getpid(), run_id))
            for table, columns in (("turns", ("sent_at", "delivered_at", "ended_at")),
                                   ("supervisor_calls", ("at",)), ("pauses", ("started_at",
                                                                              "ended_at")),
                                   ("verifications", ("at",))):
                for column in columns:  # each moved back to the run's own start, in order
                    log._db.execute(
                        f"UPDATE {table} SET {column} = strftime('%Y-%m-%dT%H:%M:%f+00:00', "
                        f"{column}, ?) WHERE run_id = ? AND {column} IS NOT NULL",
                        (f"{120 - (now - start).total_seconds():+.3f} seconds", run_id))
    return ids
