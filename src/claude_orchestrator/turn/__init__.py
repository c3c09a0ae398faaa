"""One turn: a message delivered exactly once, and the reply to that message.

`machine` decides (pure, with `state`, `on_hooks`, `on_frames`, `events`), `ledger` ties hook
events to turns, `driver` performs the machine's actions on the live agent through the seam in
`live` (`run_turn`, `await_reply`), `result` is the turn's outcome. The driver is imported on
first use, so reading a `TurnResult` does not load tmux's library."""

from typing import Any

from claude_orchestrator.errors import AgentLost, DeliveryError, OutOfTime
from claude_orchestrator.turn.result import TurnResult

__all__ = ["AgentLost", "DeliveryError", "OutOfTime", "TurnResult", "await_reply", "run_turn"]


def __getattr__(name: str) -> Any:
    if name in ("run_turn", "await_reply"):
        from claude_orchestrator.turn import driver

        return getattr(driver, name)
    raise AttributeError(name)
