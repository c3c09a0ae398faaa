"""A turn's outcome: one shape for chat, the supervisor, the run log and the benchmarks."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EndedBy(StrEnum):
    """How a turn's end was known (the run log and `show` print the value)."""

    HOOK = "hook"  # Claude's Stop
    API_ERROR = "api-error"  # StopFailure: Claude's API failed; `error` holds its kind
    SCREEN = "screen"  # the screen said the turn was over (no hook reports it)
    IDLE_TIMEOUT = "idle-timeout"  # nothing happened for --idle-timeout
    AGENT_DIED = "agent-died"  # the agent died while working on the message
    NOTHING_TO_SEND = "nothing-to-send"  # empty once control characters were removed


@dataclass(frozen=True)
class TurnResult:
    """What one message got, and how its end was known (`ended_by`; nothing-to-send: the
    message was empty once control characters were removed, nothing was typed). Times are
    wall-clock seconds."""

    message: str
    sent_text: str
    reply: str
    ended_by: EndedBy
    sent_at: float
    confirmed_at: float | None
    ended_at: float | None
    reply_at: float
    enters: int = 1
    recovery: tuple[str, ...] = ()
    received_text: str | None = None
    error: str = ""  # StopFailure's `error` (rate_limit, server_error, ...) for api-error
    output: str | None = None  # what a `!cmd` printed (chat mode's bash pass-through)
    prompt_id: str | None = None
    events: tuple[str, ...] = field(default=(), repr=False)
    # Where Claude's transcript stood when the turn began (its tokens are written after it).
    transcript: tuple[str, int] | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """Claude answered (by its hook or its screen), rather than failing or going quiet."""
        return self.ended_by in (EndedBy.HOOK, EndedBy.SCREEN)

    @property
    def delivered(self) -> bool:
        """The message reached the agent (it was submitted)."""
        return self.ended_by != EndedBy.NOTHING_TO_SEND and (
            self.confirmed_at is not None
            or self.ended_by in (EndedBy.HOOK, EndedBy.API_ERROR, EndedBy.SCREEN))

    def timings(self) -> dict[str, Any]:
        return {"sent_at": self.sent_at, "confirmed_at": self.confirmed_at,
                "ended_at": self.ended_at, "reply_at": self.reply_at, "enters": self.enters}
