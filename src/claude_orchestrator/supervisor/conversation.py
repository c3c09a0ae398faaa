"""The supervisor's side of the conversation: its prompt, the completion marker, and a history
kept under a token budget. Pure functions and data, no I/O."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from claude_orchestrator.screen import trim_middle

MARKER = "TASK_COMPLETE"

SYSTEM_PROMPT = f"""\
You supervise Claude Code, an AI coding agent running in a terminal (a tmux session) in the \
working directory given below. You do not run commands yourself: Claude Code does the work.

How this conversation works:
- Every reply you write is typed into Claude Code verbatim, as one prompt (several lines stay \
one prompt). Write it exactly as you want Claude to read it: an instruction, a question, a \
correction. Do not add commentary meant for anyone else.
- The next message you receive is Claude Code's reply to your prompt, and only that reply (not \
the whole terminal). A note in [square brackets] from the orchestrator may precede it, e.g. when \
Claude crashed and was restarted or when a long reply was shortened in the middle.
- Claude Code keeps its own memory of the conversation; refer to earlier work freely.

How to work: break the task into steps, ask Claude to do one step at a time, and check what it \
reports (ask it to run the tests, show a diff or read back a file when that matters). If Claude \
goes astray, say so plainly. Keep prompts short and specific.

How to finish: when the task is done and verified, reply with a short summary of what was \
done, then the word {MARKER} alone on the last line. That reply is not sent to Claude. Use \
{MARKER} only that way: anywhere else it does not end the task.\
"""

_MARKER_LINE = re.compile(r"^[\s*_`]*" + MARKER + r"[\s*_`]*\.?[\s*_`]*$")


def split_completion(text: str) -> tuple[bool, str]:
    """Whether the reply ends the task, and the text before the marker (the summary).

    Complete only when the last non-empty line is the marker (emphasis and a final period
    allowed).

    >>> split_completion('All tests pass.\\n\\n**TASK_COMPLETE**')
    (True, 'All tests pass.')
    >>> split_completion('I will say TASK_COMPLETE when done.')
    (False, 'I will say TASK_COMPLETE when done.')
    """
    lines = text.rstrip().split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if lines and _MARKER_LINE.match(lines[-1]):
        return True, "\n".join(lines[:-1]).strip()
    return False, text


def estimate_tokens(text: str) -> int:
    """A cheap, conservative token estimate of a message: its JSON form (quotes, escapes and
    framing count too) at about 3.5 characters per token, rounded up."""
    return (len(json.dumps(text)) + 40) * 2 // 7 + 1


def first_message(task: str, workdir: str) -> str:
    return f"Task:\n{task.strip()}\n\nWorking directory: {workdir}\n\nWrite your first prompt " \
           "for Claude Code."


@dataclass
class Conversation:
    """System prompt, the task, and the turns (supervisor prompt, Claude reply) that fit."""

    task_message: str
    budget_tokens: int
    reply_limit: int
    system: str = SYSTEM_PROMPT
    turns: list[tuple[str, str]] = field(default_factory=list)

    def add_turn(self, prompt: str, reply: str, note: str | None = None) -> None:
        """Record what we sent and what Claude answered (trimmed in the middle when long)."""
        text = trim_middle(reply.strip() or "(Claude gave no reply)", self.reply_limit)
        if note:
            text = f"[{note}]\n{text}"
        self.turns.append((prompt, text))

    def add_aside(self, text: str) -> None:
        """Something the supervisor should know that it did not ask for (what a person at the
        pane told Claude): added to the latest reply it will read."""
        text = trim_middle(text, self.reply_limit)
        if self.turns:
            prompt, reply = self.turns[-1]
            self.turns[-1] = (prompt, f"{reply}\n\n{text}")
        else:
            self.task_message = f"{self.task_message}\n\n{text}"

    def add_pending(self, prompt: str) -> None:
        """An empty supervisor reply: ask again, without typing anything into Claude."""
        self.turns.append((prompt, "[orchestrator: your reply was empty; nothing was sent to "
                                   "Claude. Write the next prompt for Claude Code.]"))

    def messages(self) -> list[dict[str, str]]:
        """The request: system, task, a note for dropped turns, the newest turns that fit."""
        fixed = [{"role": "system", "content": self.system},
                 {"role": "user", "content": self.task_message}]
        used = sum(estimate_tokens(m["content"]) for m in fixed)
        kept: list[tuple[str, str]] = []
        for prompt, reply in reversed(self.turns):
            cost = estimate_tokens(prompt) + estimate_tokens(reply)
            if kept and used + cost > self.budget_tokens - 200:
                break
            kept.append((prompt, reply))
            used += cost
        kept.reverse()
        out = list(fixed)
        dropped = len(self.turns) - len(kept)
        for i, (prompt, reply) in enumerate(kept):
            out.append({"role": "assistant", "content": prompt})
            if i == 0 and dropped:
                reply = (f"[orchestrator: {dropped} earlier turn(s) are not shown to keep the "
                         f"conversation short; Claude Code still remembers them.]\n{reply}")
            out.append({"role": "user", "content": reply})
        return out
