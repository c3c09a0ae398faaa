"""How a run that stopped short says what happened and the one command that continues it
(drivers/lifecycle.py `outcome_of`): its last line, recorded as the run's next step."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_orchestrator.agents import UnknownDialog
from claude_orchestrator.config import Config, resolve
from claude_orchestrator.drivers.lifecycle import outcome_of
from claude_orchestrator.errors import (
    AgentCannotWork,
    BudgetExhausted,
    DeliveryError,
    NoProgress,
    OutOfTime,
    SupervisorRefused,
    Terminated,
)

RUN = "20261202-010203-abcd"
RESUME = f"claude-orchestrator resume {RUN}"


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return resolve({"max_iterations": "5", "max_cost": "2.5", "max_time": "90m",
                    "socket": "s1", "session": "gt-claude-loop"}, {}, workdir=str(tmp_path))


@pytest.mark.parametrize(("error", "status", "code", "next_step"), [
    (BudgetExhausted("iteration budget reached", "iterations"), "budget", 3,
     f"{RESUME} --max-iterations 10 (a new total, not an increment)"),
    (BudgetExhausted("cost budget reached", "cost"), "budget", 3,
     f"{RESUME} --max-cost 5 (a new total, not an increment)"),
    (OutOfTime("time budget reached while Claude worked"), "budget", 3,
     f"{RESUME} --max-time 90m (counted from the resume)"),
    (BudgetExhausted("the usage limit resets at 09:00", "pause"), "budget", 3,
     f"{RESUME} --max-pause 12h"),
    (NoProgress("no progress"), "stuck", 6,
     f"read what happened (claude-orchestrator show {RUN}), then: {RESUME}"),
    (UnknownDialog("Pick one\n❯ 1. A"), "failed", 5,
     f"answer it in tmux (tmux -L s1 attach -t gt-claude-loop), then: {RESUME}"),
    (DeliveryError("Claude shows a question nobody answered within 900s"), "failed", 1,
     f"answer it in tmux (tmux -L s1 attach -t gt-claude-loop), then: {RESUME}"),
    (AgentCannotWork("Claude Code's API refuses (authentication_failed)"), "failed", 5,
     f"fix Claude Code's login or key, then: {RESUME}"),
    (SupervisorRefused("the supervisor API rejected the key (401)", "auth"), "refused", 4,
     f"fix it, then: {RESUME}"),
    (KeyboardInterrupt(), "interrupted", 130, RESUME),
    (Terminated(), "interrupted", 143, RESUME),
])
def test_every_stop_says_the_command_that_continues(error: BaseException, status: str,
                                                   code: int, next_step: str,
                                                   config: Config) -> None:
    outcome = outcome_of(error, RUN, config=config)
    assert (outcome.status, outcome.exit_code, outcome.next_step) == (status, code, next_step)


def test_a_run_that_cannot_be_resumed_names_no_resume(config: Config) -> None:
    assert outcome_of(KeyboardInterrupt(), RUN, resumable=False, config=config).next_step == ""
    question = DeliveryError("Claude shows a question nobody answered within 900s")
    assert outcome_of(question, RUN, resumable=False, config=config).next_step == (
        "answer it in tmux: tmux -L s1 attach -t gt-claude-loop")


def test_the_way_on_names_the_agent_that_refuses(tmp_path: Path) -> None:
    codex = resolve({"claude_cmd": "codex --yolo"}, {}, workdir=str(tmp_path))
    refused = AgentCannotWork("Codex's API refuses (authentication_failed)")
    assert outcome_of(refused, RUN, config=codex).next_step == (
        f"fix Codex's login or key, then: {RESUME}")
