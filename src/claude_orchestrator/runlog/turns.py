"""A run's parts in the run log: its turns (each written `sent` before its message is
delivered, so a crash leaves the in-flight message known), the supervisor's calls, pauses and
`--verify` checks. Backend-neutral: the SQL is the dialect both backends accept."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from claude_orchestrator.runlog.rows import (
    Pause,
    RunLogError,
    SupervisorCall,
    TurnRecord,
    Usage,
    Verification,
    _dt,
    _iso,
    _Total,
)
from claude_orchestrator.runlog.store import Db, Store


class TurnLog(Store):
    """Turns, supervisor calls, pauses and checks of the runs in the log."""

    def begin_turn(self, run_id: str, message: str, *, mark: int | None = None,
                   source: str = "supervisor") -> TurnRecord:
        """Record a message as 'sent' before it is delivered; `mark` is where the agent's hook
        record ended then (what a resume looks after)."""
        def body(db: Db) -> int:
            seq = self._next_seq(db, "turns", run_id)
            db.execute("INSERT INTO turns (run_id, seq, message, sent_at, events_mark, source)"
                       " VALUES (?, ?, ?, ?, ?, ?)",
                       (run_id, seq, self.redact(message), _iso(None), mark, source))
            return seq

        seq = self._transact(body)
        return self._turns("WHERE run_id = ? AND seq = ?", (run_id, seq))[0]

    def mark_delivered(self, run_id: str, seq: int, at: datetime | None = None) -> None:
        self._update_turn(run_id, seq, "delivered_at = ?", (_iso(at),))

    def finish_turn(self, run_id: str, seq: int, *, reply: str, ended_by: str,
                    ended_at: datetime | None = None, recovery: str | None = None,
                    timings: Mapping[str, Any] | None = None, error_kind: str | None = None,
                    output: str | None = None, delivered_at: datetime | None = None) -> None:
        """Record the reply (and when Claude confirmed the message, in the same transaction);
        the first time a turn is done it counts in the run's turns."""
        def body(db: Db) -> None:
            was = self._turn_status(db, run_id, seq)
            if delivered_at is not None:
                db.execute("UPDATE turns SET delivered_at = ? WHERE run_id = ? AND seq = ?",
                           (_iso(delivered_at), run_id, seq))
            db.execute("UPDATE turns SET status = 'done', reply = ?, ended_by = ?, ended_at = ?,"
                       " recovery = COALESCE(?, recovery), timings = COALESCE(?, timings),"
                       " error_kind = ?, output = ? WHERE run_id = ? AND seq = ?",
                       (self.redact(reply), ended_by, _iso(ended_at), self._text(recovery),
                        None if timings is None else json.dumps(dict(timings), default=str),
                        error_kind, self._text(output), run_id, seq))
            if was != "done":
                db.execute("UPDATE runs SET turns = turns + 1 WHERE id = ?", (run_id,))

        self._transact(body)

    def add_claude_usage(self, run_id: str, seq: int, tokens: Sequence[Usage],
                         cost_usd: float) -> None:
        """Claude's own tokens and their estimated cost for a turn, added to the run's."""
        if not tokens and not cost_usd:
            return
        total = _Total(sum(t.input for t in tokens), sum(t.output for t in tokens),
                       sum(t.cache_write for t in tokens), sum(t.cache_read for t in tokens))

        def body(db: Db) -> None:
            db.execute("UPDATE turns SET claude_input_tokens = claude_input_tokens + ?,"
                       " claude_output_tokens = claude_output_tokens + ?,"
                       " claude_cache_write_tokens = claude_cache_write_tokens + ?,"
                       " claude_cache_read_tokens = claude_cache_read_tokens + ?,"
                       " claude_cost_usd = claude_cost_usd + ? WHERE run_id = ? AND seq = ?",
                       (total.input, total.output, total.cache_write, total.cache_read,
                        cost_usd, run_id, seq))
            db.execute("UPDATE runs SET claude_tokens = claude_tokens + ?,"
                       " claude_cost_usd = claude_cost_usd + ? WHERE id = ?",
                       (total.total, cost_usd, run_id))

        self._transact(body)

    def set_turn_tools(self, run_id: str, seq: int, tools: Sequence[Mapping[str, Any]]) -> None:
        """The tools Claude used in a turn: {tool, detail, failed} each, secrets out."""
        clean = [{**t, "detail": self.redact(str(t.get("detail") or ""))} for t in tools]
        self._update_turn(run_id, seq, "tools = ?", (json.dumps(clean),))

    def fail_turn(self, run_id: str, seq: int, note: str) -> None:
        self._update_turn(run_id, seq, "status = 'failed', error = ?, ended_at = ?,"
                          " ended_by = COALESCE(ended_by, 'error')",
                          (self.redact(note), _iso(None)))

    def _update_turn(self, run_id: str, seq: int, assignments: str,
                     params: tuple[Any, ...]) -> None:
        def body(db: Db) -> None:
            self._turn_status(db, run_id, seq)
            db.execute(f"UPDATE turns SET {assignments} WHERE run_id = ? AND seq = ?",
                       (*params, run_id, seq))

        self._transact(body)

    @staticmethod
    def _turn_status(db: Db, run_id: str, seq: int) -> str:
        row = db.execute("SELECT status FROM turns WHERE run_id = ? AND seq = ?",
                         (run_id, seq)).fetchone()
        if row is None:
            raise RunLogError(f"run {run_id!r} has no turn {seq}")
        return str(row[0])

    def _turns(self, where: str, params: tuple[Any, ...]) -> list[TurnRecord]:
        return [
            TurnRecord(
                run_id=r["run_id"], seq=r["seq"], message=r["message"], status=r["status"],
                sent_at=datetime.fromisoformat(r["sent_at"]), delivered_at=_dt(r["delivered_at"]),
                ended_at=_dt(r["ended_at"]), reply=r["reply"], ended_by=r["ended_by"],
                recovery=r["recovery"], error=r["error"],
                timings=None if r["timings"] is None else json.loads(r["timings"]),
                events_mark=r["events_mark"], error_kind=r["error_kind"], output=r["output"],
                source=r["source"],
                claude_tokens=(r["claude_input_tokens"] + r["claude_output_tokens"]
                               + r["claude_cache_write_tokens"] + r["claude_cache_read_tokens"]),
                claude_cost_usd=r["claude_cost_usd"],
                tools=tuple(json.loads(r["tools"])) if r["tools"] else (),
            )
            for r in self._rows(f"SELECT * FROM turns {where}", params)
        ]

    def turns(self, run_id: str) -> list[TurnRecord]:
        return self._turns("WHERE run_id = ? ORDER BY seq", (run_id,))

    def in_flight_turn(self, run_id: str) -> TurnRecord | None:
        """The last turn still 'sent' (its reply never recorded), if any."""
        found = self._turns("WHERE run_id = ? AND status = 'sent' ORDER BY seq DESC LIMIT 1",
                            (run_id,))
        return found[0] if found else None

    # --- the supervisor's calls ---------------------------------------------------------------

    def record_supervisor_call(self, run_id: str, *, reply: str | None,
                               prompt_tokens: int | None, completion_tokens: int | None,
                               cost_usd: float | None, attempts: int,
                               message_count: int) -> None:
        """Record one supervisor call and add its usage to the run's totals."""
        def body(db: Db) -> None:
            seq = self._next_seq(db, "supervisor_calls", run_id)
            db.execute("INSERT INTO supervisor_calls (run_id, seq, at, message_count,"
                       " prompt_tokens, completion_tokens, cost_usd, reply, attempts)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (run_id, seq, _iso(None), message_count, prompt_tokens,
                        completion_tokens, cost_usd, self._text(reply), attempts))
            db.execute("UPDATE runs SET prompt_tokens = prompt_tokens + ?, completion_tokens ="
                       " completion_tokens + ?, cost_usd = cost_usd + ? WHERE id = ?",
                       (prompt_tokens or 0, completion_tokens or 0, cost_usd or 0.0, run_id))

        self._transact(body)

    def supervisor_calls(self, run_id: str) -> list[SupervisorCall]:
        rows = self._rows("SELECT * FROM supervisor_calls WHERE run_id = ? ORDER BY seq",
                          (run_id,))
        return [SupervisorCall(run_id=r["run_id"], seq=r["seq"],
                               at=datetime.fromisoformat(r["at"]),
                               message_count=r["message_count"], prompt_tokens=r["prompt_tokens"],
                               completion_tokens=r["completion_tokens"], cost_usd=r["cost_usd"],
                               reply=r["reply"], attempts=r["attempts"])
                for r in rows]

    # --- pauses and checks --------------------------------------------------------------------

    def begin_pause(self, run_id: str, *, turn_seq: int | None, reason: str,
                    until: datetime | None, text: str | None) -> int:
        """A pause starts (a usage limit, an API failure): its row, until it ends."""
        def body(db: Db) -> int:
            seq = self._next_seq(db, "pauses", run_id)
            db.execute("INSERT INTO pauses (run_id, seq, turn_seq, reason, started_at, until_at,"
                       " text) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (run_id, seq, turn_seq, reason, _iso(None),
                        None if until is None else _iso(until), self._text(text)))
            return seq

        return self._transact(body)

    def end_open_pauses(self, run_id: str) -> None:
        """Close the pauses a stopped run left open (a resume starts its own)."""
        self._transact(lambda db: db.execute(
            "UPDATE pauses SET ended_at = ? WHERE run_id = ? AND ended_at IS NULL",
            (_iso(None), run_id)))

    def end_pause(self, run_id: str, seq: int) -> None:
        self._transact(lambda db: db.execute(
            "UPDATE pauses SET ended_at = ? WHERE run_id = ? AND seq = ?",
            (_iso(None), run_id, seq)))

    def pauses(self, run_id: str) -> list[Pause]:
        rows = self._rows("SELECT * FROM pauses WHERE run_id = ? ORDER BY seq", (run_id,))
        return [pause_of(r) for r in rows]

    def record_verification(self, run_id: str, *, command: str, status: int | None,
                            seconds: float, output: str) -> None:
        def body(db: Db) -> None:
            seq = self._next_seq(db, "verifications", run_id)
            db.execute("INSERT INTO verifications (run_id, seq, at, command, status, seconds,"
                       " output) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (run_id, seq, _iso(None), self.redact(command), status, seconds,
                        self.redact(output)))

        self._transact(body)

    def verifications(self, run_id: str) -> list[Verification]:
        rows = self._rows("SELECT * FROM verifications WHERE run_id = ? ORDER BY seq",
                          (run_id,))
        return [verification_of(r) for r in rows]


def pause_of(r: Any) -> Pause:
    return Pause(run_id=r["run_id"], seq=r["seq"], turn_seq=r["turn_seq"], reason=r["reason"],
                 started_at=datetime.fromisoformat(r["started_at"]),
                 until_at=_dt(r["until_at"]), ended_at=_dt(r["ended_at"]), text=r["text"])


def verification_of(r: Any) -> Verification:
    return Verification(run_id=r["run_id"], seq=r["seq"], at=datetime.fromisoformat(r["at"]),
                        command=r["command"], status=r["status"], seconds=r["seconds"],
                        output=r["output"])
