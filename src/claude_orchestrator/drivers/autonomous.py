"""Autonomous mode: the supervisor LLM writes each message, Claude's reply goes back, until the
supervisor ends with TASK_COMPLETE or a budget runs out. Every step is in the run log as it
happens, so `resume` continues a run whose orchestrator died."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from claude_orchestrator.agents import UnknownDialog
from claude_orchestrator.config import Config, ConfigError
from claude_orchestrator.progress import Reporter
from claude_orchestrator.runlog import RunLog, RunNotFound
from claude_orchestrator.runtime.lock import SessionBusy
from claude_orchestrator.session import AgentSession, StartFailed
from claude_orchestrator.supervisor.conversation import (
    Conversation,
    first_message,
    split_completion,
)
from claude_orchestrator.turn import DeliveryError, OutOfTime, TurnResult, await_reply, run_turn

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_BUDGET, EXIT_REFUSED, EXIT_AGENT = 0, 1, 2, 3, 4, 5
EXIT_SIGINT, EXIT_SIGTERM = 130, 143


@dataclass
class Outcome:
    status: str  # complete | budget | refused | failed | interrupted
    exit_code: int
    message: str
    summary: str = ""


def read_task(config: Config, stdin: IO[str], out: IO[str]) -> str:
    """--task, --task-file, piped stdin, or the seed's interactive prompt."""
    if config.task is not None:
        task = config.task
    elif config.task_file is not None:
        task = config.task_file.read_text(encoding="utf-8")
    elif not stdin.isatty():
        task = stdin.read()
    else:
        out.write("Enter task description: ")
        out.flush()
        task = stdin.readline()
    if not task.strip():
        raise ConfigError("the task is empty (give --task, --task-file, or type one)")
    return task.strip()


def run_autonomous(config: Config, reporter: Reporter, runlog_path: Path) -> int:
    task = read_task(config, sys.stdin, sys.stderr)
    with RunLog(runlog_path) as log:
        run = log.start_run(mode="autonomous", task=task, workdir=str(config.workdir),
                            model=config.model, session=config.session, socket=config.socket,
                            settings=config.public_settings())
        conv = Conversation(first_message(task, str(config.workdir)), config.context_tokens,
                            config.reply_limit)
        return _drive(config, reporter, log, run.id, conv, session_id=None, inflight=None)


def resume_autonomous(run_ref: str, config: Config, reporter: Reporter,
                      runlog_path: Path) -> int:
    """Continue a run: same tmux session, the supervisor's history rebuilt from the log, and the
    reply to a message that was in flight picked up instead of sending it again."""
    with RunLog(runlog_path) as log:
        try:
            run = log.get_run(run_ref)
        except RunNotFound as e:
            raise ConfigError(str(e)) from None
        if run.mode != "autonomous":
            raise ConfigError(f"run {run.id} is a chat session; only autonomous runs resume")
        if run.status == "complete":
            raise ConfigError(f"run {run.id} is already complete")
        if run.status == "running":
            raise ConfigError(f"run {run.id} is still running (pid {run.pid})")
        log.resume_run(run.id)
        from dataclasses import replace

        config = replace(config, workdir=Path(run.workdir))
        conv = Conversation(first_message(run.task, run.workdir), config.context_tokens,
                            config.reply_limit)
        inflight = None
        for turn in log.turns(run.id):
            if turn.status == "done":
                conv.add_turn(turn.message, turn.reply or "")
            elif turn.status == "sent":
                inflight = (turn.seq, turn.message)
        reporter.note(f"resuming run {run.id} after {len(conv.turns)} turn(s)")
        return _drive(config, reporter, log, run.id, conv, session_id=run.agent_session_id,
                      inflight=inflight)


def _drive(config: Config, reporter: Reporter, log: RunLog, run_id: str, conv: Conversation,
           *, session_id: str | None, inflight: tuple[int, str] | None) -> int:
    from claude_orchestrator.supervisor import (
        RetryNotice,
        SupervisorClient,
        SupervisorError,
        SupervisorRefused,
        Usage,
    )

    def on_retry(n: RetryNotice) -> None:
        reporter.note(f"supervisor API: {n.reason}; retry {n.attempt}/{n.max_retries} "
                      f"in {n.delay:.1f}s")

    assert config.api_key
    client = SupervisorClient(base_url=config.base_url, api_key=config.api_key,
                              model=config.model, on_retry=on_retry,
                              max_retries=config.supervisor_retries,
                              timeout=config.supervisor_timeout)
    try:
        sess = AgentSession(config, reporter)
    except SessionBusy as e:
        log.finish_run(run_id, status="failed", exit_code=EXIT_USAGE, message=str(e))
        raise
    sess.session_id = session_id
    sess.on_session_id = lambda sid: log.set_agent_session(run_id, sid)
    started = time.monotonic()
    if config.max_time:
        sess.deadline = started + config.max_time
    usage = Usage()
    iterations = len(conv.turns)
    outcome = Outcome("failed", EXIT_FAILURE, "stopped")
    reporter.note(f"run {run_id}; watch live: {sess.runtime.attach_command}")
    try:
        sess.ensure_ready()
        if inflight is not None:
            seq, message = inflight
            result = _finish_inflight(sess, message)
            _record_turn(log, run_id, seq, result)
            conv.add_turn(message, result.reply, _note(result))
        while True:
            if config.max_iterations and iterations >= config.max_iterations:
                outcome = Outcome("budget", EXIT_BUDGET,
                                  f"iteration budget reached ({config.max_iterations})")
                break
            if sess.deadline is not None and time.monotonic() >= sess.deadline:
                outcome = Outcome("budget", EXIT_BUDGET,
                                  f"time budget reached ({config.max_time:g}s)")
                break
            if config.max_cost and usage.cost_usd >= config.max_cost:
                outcome = Outcome("budget", EXIT_BUDGET,
                                  f"cost budget reached (${usage.cost_usd:.4f} of "
                                  f"${config.max_cost:g})")
                break
            reporter.context(f"turn {iterations + 1} · {usage.total_tokens} tokens · "
                             f"${usage.cost_usd:.4f} · {_clock(time.monotonic() - started)}")
            reporter.waiting("supervisor writing the next message")
            messages = conv.messages()
            reply = client.complete(messages)
            reporter.idle()
            usage = usage + reply.usage
            log.record_supervisor_call(run_id, reply=reply.text,
                                       prompt_tokens=reply.usage.prompt_tokens,
                                       completion_tokens=reply.usage.completion_tokens,
                                       cost_usd=reply.usage.cost_usd, attempts=reply.attempts,
                                       message_count=len(messages))
            done, body = split_completion(reply.text)
            if done:
                outcome = Outcome("complete", EXIT_OK, "task complete", summary=body)
                break
            if not body.strip():
                conv.add_pending(reply.text)
                continue
            iterations += 1
            turn = log.begin_turn(run_id, body)
            if not config.json_output:
                sys.stderr.write(f"\n── supervisor → Claude (turn {iterations}) ──\n{body}\n")
            result = run_turn(sess, body, literal=True)
            _record_turn(log, run_id, turn.seq, result)
            if not config.json_output:
                sys.stderr.write(f"── Claude ({result.ended_by}, "
                                 f"{result.reply_at - result.sent_at:.1f}s) ──\n"
                                 f"{result.reply}\n")
            conv.add_turn(body, result.reply, _note(result))
    except SupervisorRefused as e:
        outcome = Outcome("refused", EXIT_REFUSED, str(e))
    except SupervisorError as e:
        outcome = Outcome("failed", EXIT_FAILURE, str(e))
    except StartFailed as e:
        outcome = Outcome("failed", EXIT_AGENT, str(e) + (f"\n--- last screen:\n{e.screen}"
                                                          if e.screen else ""))
    except UnknownDialog as e:
        outcome = Outcome("failed", EXIT_AGENT,
                          f"{e}; answer it in tmux ({sess.runtime.attach_command})\n"
                          f"--- screen:\n{e.screen}")
    except DeliveryError as e:
        outcome = Outcome("failed", EXIT_FAILURE, str(e))
    except OutOfTime:
        outcome = Outcome("budget", EXIT_BUDGET,
                          f"time budget reached ({config.max_time:g}s) while Claude worked; "
                          f"it goes on: `claude-orchestrator resume {run_id}` takes its reply")
    except KeyboardInterrupt:
        outcome = Outcome("interrupted", EXIT_SIGINT,
                          f"interrupted; continue with: claude-orchestrator resume {run_id}")
    except BaseException as e:
        if type(e).__name__ == "Terminated":
            outcome = Outcome("interrupted", EXIT_SIGTERM,
                              f"terminated; continue with: claude-orchestrator resume {run_id}")
        elif isinstance(e, Exception):
            outcome = Outcome("failed", EXIT_FAILURE, f"{type(e).__name__}: {e}")
        else:
            raise
    finally:
        reporter.idle()
        client.close()
        sess.close(terminate=config.terminate_when_quit)
        log.finish_run(run_id, status=outcome.status, exit_code=outcome.exit_code,
                       message=outcome.message.split("\n", 1)[0])
    _print_summary(config, log, run_id, outcome, time.monotonic() - started)
    return outcome.exit_code


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _finish_inflight(sess: AgentSession, message: str) -> TurnResult:
    """The message the dead orchestrator was waiting on: take Claude's reply from its hook
    events (or wait for it), and deliver it only when it never arrived."""
    result = await_reply(sess, message)
    if result is not None:
        sess.reporter.note("picked up Claude's reply to the message in flight "
                           f"({result.ended_by})")
        return result
    sess.reporter.note("the message in flight had not reached Claude; delivering it now")
    return run_turn(sess, message, literal=True)


def _note(result: TurnResult) -> str | None:
    if result.ok:
        return None
    if result.ended_by == "api-error":
        return "orchestrator: Claude Code's API call failed; this is its error message"
    if result.ended_by == "idle-timeout":
        return "orchestrator: Claude showed no activity for a long time; this is its screen"
    return f"orchestrator: the turn ended by {result.ended_by}"


def _record_turn(log: RunLog, run_id: str, seq: int, result: TurnResult) -> None:
    if result.confirmed_at:
        log.mark_delivered(run_id, seq, _utc(result.confirmed_at))
    log.finish_turn(run_id, seq, reply=result.reply, ended_by=result.ended_by,
                    ended_at=_utc(result.ended_at or result.reply_at),
                    recovery="; ".join(result.recovery) or None, timings=result.timings())


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def _print_summary(config: Config, log: RunLog, run_id: str, outcome: Outcome,
                   elapsed: float) -> None:
    run = log.get_run(run_id)
    data = {"run_id": run_id, "outcome": outcome.status, "exit_code": outcome.exit_code,
            "message": outcome.message, "summary": outcome.summary, "turns": run.turns,
            "seconds": round(elapsed, 1), "prompt_tokens": run.prompt_tokens,
            "completion_tokens": run.completion_tokens, "cost_usd": round(run.cost_usd, 6)}
    if config.json_output:
        print(json.dumps(data, indent=2))
        return
    if outcome.summary:
        print(outcome.summary)
    print(f"\n{outcome.status}: {outcome.message}\nrun {run_id}: {run.turns} turns, "
          f"{elapsed:.0f}s, {run.prompt_tokens + run.completion_tokens} tokens, "
          f"${run.cost_usd:.4f}", file=sys.stderr if outcome.exit_code else sys.stdout)
