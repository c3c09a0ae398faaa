"""One turn: a message delivered exactly once, and the reply to that message.

`machine` decides (pure), `ledger` ties hook events to turns, `driver` performs the machine's
actions on tmux, `result` is the turn's outcome."""

from claude_orchestrator.errors import AgentLost, DeliveryError, OutOfTime
from claude_orchestrator.turn.driver import await_reply, run_turn
from claude_orchestrator.turn.result import TurnResult

__all__ = ["AgentLost", "DeliveryError", "OutOfTime", "TurnResult", "await_reply", "run_turn"]
