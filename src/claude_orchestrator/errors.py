"""The error root: every failure the tool reports is an `OrchestratorError` whose class says the
exit status (shared/decisions.md, "Exit status"), and whose message is one line fit to print
after `error: `. Callers catch the root, or a branch, never a string.
"""

from __future__ import annotations


class OrchestratorError(Exception):
    """Something the tool could not do; `exit_status` is what the command exits with."""

    exit_status = 1


class UsageError(OrchestratorError):
    """Bad usage or configuration: a bad value, a missing key, tool or folder (exit 2)."""

    exit_status = 2


class ConfigError(UsageError):
    """A bad setting: the message is one line, fit to print after `error: `."""


class SessionBusy(UsageError):
    """Another orchestrator drives this tmux session."""


class BudgetExhausted(OrchestratorError):
    """An iteration, cost, time or pause budget ran out (exit 3; the run is resumable).
    `budget` names which (iterations, cost, time, pause), so the way on can name its flag."""

    exit_status = 3

    def __init__(self, message: str, budget: str = "") -> None:
        super().__init__(message)
        self.budget = budget


class OutOfTime(BudgetExhausted):
    """The run's time budget ended while the agent worked; the agent goes on, the turn stays
    open and `resume` takes its reply."""

    def __init__(self, message: str, budget: str = "time") -> None:
        super().__init__(message, budget)


class SupervisorError(OrchestratorError):
    """The supervisor could not be used: retries exhausted, endpoint unreachable, malformed
    answers, or an unexpected refusal. The message is one line without secrets. Exit status 1."""


class SupervisorRefused(SupervisorError):
    """The supervisor API refused for good; retrying cannot help: bad key, no credits, unknown
    model, context too long, forbidden (exit 4). `reason` names which."""

    exit_status = 4

    def __init__(self, message: str, reason: str, status: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


class AgentCannotWork(OrchestratorError):
    """The agent cannot work: it never reached its prompt (died at start, an unknown dialog,
    an unsupported release), or its API refuses for good (exit 5)."""

    exit_status = 5


class DeliveryError(OrchestratorError):
    """A message cannot be delivered as written: a garbled copy arrived twice, or a question on
    the agent's screen stays unanswered (exit 1; the message shows what happened)."""


class TurnMachineError(OrchestratorError):
    """The turn machine was given an input it cannot have been given (an event after the turn
    ended, a paste's position when nothing was pasted): a bug in what drives it. Raised, as h11
    raises a protocol error, rather than ignored (exit 1)."""


class AgentLost(OrchestratorError):
    """The pane died or tmux went away during a turn, and recovery did not bring it back."""


class NoProgress(OrchestratorError):
    """The same supervisor message, or the same reply, came too many times in a row (exit 6;
    the run is resumable). `detail` holds both texts for the summary."""

    exit_status = 6

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C (exit 143), recorded as interrupted."""
