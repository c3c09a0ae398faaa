"""How an autonomous run ended, as the public API returns it (`api.run_task`). It lives below
the API, with the drivers that make it, so the drivers never import the API."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RunResult:
    """How an autonomous run ended. `status`: complete, budget, refused, failed, interrupted,
    stuck; `exit_code` as the command line's; `cost_usd` the supervisor's plus Claude's (an
    estimate for Claude's part); `next_step` the command that continues it, when it stopped
    short."""

    run_id: str
    status: str
    exit_code: int
    message: str
    summary: str
    turns: int
    seconds: float
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    supervisor_cost_usd: float
    claude_cost_usd: float
    claude_tokens: int
    branch: str | None = None
    next_step: str = ""  # the one command that continues a run that stopped short

    @property
    def ok(self) -> bool:
        return self.status == "complete"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
