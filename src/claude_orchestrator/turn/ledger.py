"""Which of the agent's turns are running, learnt from its hook events alone: the record that
ties a Stop to the prompt it answers, on every supported Claude Code release.

Measured (shared/claude-code-facts.md, and side by side on 2.1.197 and 2.1.332):
- A prompt taken at once: UserPromptSubmit with a new `prompt_id`, later a Stop with that id.
- 2.1.197, a message sent while Claude works: its UserPromptSubmit fires when Claude takes it up,
  with a new id, after the busy turn's Stop.
- 2.1.332, the same: its UserPromptSubmit fires when it is *queued*, carrying the *busy* turn's
  id; the turn that later processes it has a new id that no UserPromptSubmit announces.
- Both: messages queued together are processed as one turn, whose Stop carries the id of the
  last of them (2.1.197) or a new one (2.1.332).
- A `!cmd` (bash mode) fires no UserPromptSubmit; its turn ends with a Stop (no id on 2.1.197).
- Escape ends a turn with no hook at all.

So a turn is an *entry* here: opened by a UserPromptSubmit (or, on 2.1.332, by the end of a turn
that had messages queued behind it: a turn whose id is not known yet), closed by a Stop or
StopFailure. A message's own turn is the first one to close after its UserPromptSubmit that was
not already running (or queued ahead) when the message was accepted: `Ledger.ahead_of_new` names
those, `Ledger.close` says which entry a Stop closed. Entries are named by a serial number, not
by prompt id, because ids repeat (2.1.332) or are missing (bash mode on 2.1.197).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from claude_orchestrator.runtime.hooks import HookName


class Exchange(NamedTuple):
    """A turn someone else gave the agent: their message, its reply, and whether a person's
    terminal was attached and active when the message came (`by_person`). Anything else is
    unattributed: the code Claude runs can append hook events or type into the pane."""

    prompt: str
    reply: str
    by_person: bool = False


@dataclass(frozen=True)
class Entry:
    """A turn that was taken up (or is known to be running) and has not ended."""

    serial: int
    prompt_id: str | None  # None: a turn whose id we learn only from its Stop
    queued_behind: int = 0  # messages queued behind this turn (2.1.332)
    prompts: tuple[str, ...] = ()  # the messages this turn answers
    ours: bool = False  # one of them is the orchestrator's own
    queued: tuple[str, ...] = ()  # messages queued behind it, taken up together next
    queued_ours: bool = False
    # Every message of it came while a person's terminal was active (attribution, not
    # identity: left out of comparisons).
    by_person: bool = field(default=False, compare=False)
    queued_by_person: bool = field(default=True, compare=False)


@dataclass(frozen=True)
class Ledger:
    """The agent's running turns and the conversation it holds, as its hooks reported them."""

    session_id: str | None = None
    transcript_path: str | None = None
    reporting: bool = False  # a SessionStart was seen: the hooks work
    known: frozenset[str] = frozenset()  # every prompt id seen
    open: tuple[Entry, ...] = ()  # running (and queued-ahead) turns, oldest first
    serial: int = 0
    # Turns that answered someone else's message (a person at the pane, or unattributed),
    # ended, oldest first, until taken.
    exchanges: tuple[Exchange, ...] = ()

    # ------------------------------------------------------------------ reading events
    def submitted(self, prompt_id: str | None, prompt: str = "", ours: bool = False,
                  by_person: bool = False) -> tuple[Ledger, frozenset[int]]:
        """A UserPromptSubmit (of the orchestrator's own message when `ours`; `by_person` when
        a person's terminal was active as it came): the ledger after it, and the serials of
        the turns that run before this prompt's own."""
        ahead = frozenset(e.serial for e in self.open)
        for i, e in enumerate(self.open):
            if prompt_id is not None and e.prompt_id == prompt_id:
                # 2.1.332: queued behind the running turn that carries this id.
                return self._with(i, self._queue(e, prompt, ours, by_person), prompt_id), ahead
        if prompt_id is not None and prompt_id not in self.known:
            for i, e in enumerate(self.open):
                if e.prompt_id is None:
                    # Queued behind a turn whose id we had not seen: now we know it.
                    queued = self._queue(e, prompt, ours, by_person)
                    return self._with(i, replace(queued, prompt_id=prompt_id),
                                      prompt_id), ahead
        entry = Entry(self.serial + 1, prompt_id, prompts=(prompt,) if prompt else (),
                      ours=ours, by_person=by_person)
        return replace(self, open=(*self.open, entry), serial=entry.serial,
                       known=self._know(prompt_id)), ahead

    @staticmethod
    def _queue(e: Entry, prompt: str, ours: bool, by_person: bool) -> Entry:
        return replace(e, queued_behind=e.queued_behind + 1,
                       queued=(*e.queued, prompt) if prompt else e.queued,
                       queued_ours=e.queued_ours or ours,
                       queued_by_person=e.queued_by_person and by_person)

    def take_exchanges(self) -> tuple[Ledger, tuple[Exchange, ...]]:
        """The ended turns that answered someone else's message, and the ledger without them."""
        return replace(self, exchanges=()), self.exchanges

    def close(self, prompt_id: str | None, reply: str = "") -> tuple[Ledger, int | None]:
        """A Stop or StopFailure: the ledger after it, and the serial of the turn it ended
        (None when it ended a turn we never saw start)."""
        index = None
        if prompt_id is not None:
            index = next((i for i, e in enumerate(self.open) if e.prompt_id == prompt_id), None)
        if index is None and (prompt_id is None or prompt_id not in self.known):
            index = next((i for i, e in enumerate(self.open) if e.prompt_id is None), None)
        if index is None and prompt_id is None and self.open:
            index = 0
        if index is None:
            return replace(self, known=self._know(prompt_id)), None
        ended = self.open[index]
        rest = self.open[:index] + self.open[index + 1:]
        serial = self.serial
        if ended.queued_behind:
            # The messages queued behind it are taken up together, as one new turn.
            serial += 1
            rest = (*rest, Entry(serial, None, prompts=ended.queued, ours=ended.queued_ours,
                                 by_person=ended.queued_by_person))
        exchanges = self.exchanges
        if ended.prompts and not ended.ours:
            exchanges = (*exchanges, Exchange("\n".join(ended.prompts), reply,
                                              ended.by_person))
        return replace(self, open=rest, serial=serial, known=self._know(prompt_id),
                       exchanges=exchanges), ended.serial

    def started(self, payload: dict[str, Any]) -> Ledger:
        """A SessionStart: a (re)started agent runs no turn; remember its conversation."""
        sid = payload.get("session_id")
        path = payload.get("transcript_path")
        return replace(self, reporting=True, open=(),
                       session_id=sid if isinstance(sid, str) and sid else self.session_id,
                       transcript_path=path if isinstance(path, str) and path
                       else self.transcript_path)

    def apply(self, name: str, payload: dict[str, Any], by_person: bool = False) -> Ledger:
        """Any hook event, when the caller does not need to know whose turn it touched (one
        that says nothing about turns leaves the ledger as it was)."""
        pid = prompt_id_of(payload)
        match name:
            case HookName.USER_PROMPT_SUBMIT:
                return self.submitted(pid, str(payload.get("prompt") or ""),
                                      by_person=by_person)[0]
            case HookName.STOP | HookName.STOP_FAILURE:
                return self.close(pid, str(payload.get("last_assistant_message") or ""))[0]
            case HookName.SESSION_START:
                return self.started(payload)
            case HookName.SESSION_END:
                return replace(self, open=())
            case _:
                return self

    def idle(self) -> Ledger:
        """The screen shows the agent idle at its prompt: no turn runs (one ended by Escape
        fired no hook), so none is waited for."""
        return replace(self, open=()) if self.open else self

    # ------------------------------------------------------------------ helpers
    def _know(self, prompt_id: str | None) -> frozenset[str]:
        return self.known | {prompt_id} if prompt_id else self.known

    def _with(self, index: int, entry: Entry, prompt_id: str | None) -> Ledger:
        entries = list(self.open)
        entries[index] = entry
        return replace(self, open=tuple(entries), known=self._know(prompt_id))


def prompt_id_of(payload: dict[str, Any]) -> str | None:
    """The event's `prompt_id` (None when absent or empty)."""
    value = payload.get("prompt_id")
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class Waiting:
    """What one message's turn waits for: the serials of the turns ahead of it. A turn end
    that closes none of them is this message's own."""

    ahead: frozenset[int] = field(default_factory=frozenset)

    def ends_ours(self, closed: int | None) -> tuple[bool, Waiting]:
        """Whether the turn end that closed `closed` is ours, and what is left ahead."""
        if closed is not None and closed in self.ahead:
            return False, Waiting(self.ahead - {closed})
        return True, self


def late_reply(events: Sequence[tuple[str, dict[str, Any]]],
               matches: Callable[[str], bool]) -> str | None:
    """The reply to a message whose wait was given up (chat's Ctrl-C), from the hook events
    after it was pasted: the end of the turn opened by the first prompt that `matches` it (by
    its `prompt_id`; a turn end without one closes the newest open turn). None while that
    turn has not ended (or the message was never submitted).

    >>> ev = [("UserPromptSubmit", {"prompt": "hi", "prompt_id": "a"}),
    ...       ("Stop", {"prompt_id": "a", "last_assistant_message": "hello"})]
    >>> late_reply(ev, lambda p: p == "hi"), late_reply(ev[:1], lambda p: p == "hi")
    ('hello', None)
    """
    ours: str | None = None
    seen = False
    for name, payload in events:
        pid = prompt_id_of(payload)
        if (name == HookName.USER_PROMPT_SUBMIT and not seen
                and matches(str(payload.get("prompt", "")))):
            seen, ours = True, pid
        elif (name in (HookName.STOP, HookName.STOP_FAILURE) and seen
              and (ours is None or pid is None or pid == ours)):
            return str(payload.get("last_assistant_message") or "")
    return None
