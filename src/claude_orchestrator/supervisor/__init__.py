"""The supervisor LLM: its client (OpenAI-compatible API), what its API's errors mean, and its
side of the conversation (prompt, completion marker, history under a token budget)."""

from claude_orchestrator.supervisor.client import (
    RefusalReason,
    RetryNotice,
    SupervisorClient,
    SupervisorError,
    SupervisorRefused,
    SupervisorReply,
    Usage,
)

__all__ = [
    "RefusalReason",
    "RetryNotice",
    "SupervisorClient",
    "SupervisorError",
    "SupervisorRefused",
    "SupervisorReply",
    "Usage",
]
