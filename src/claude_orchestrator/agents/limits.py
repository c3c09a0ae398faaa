"""What Claude Code says when its API fails or a usage limit is reached, read by meaning: which
kind of failure a StopFailure names, when a limit resets, whether Claude will go on by itself.

Measured on 2.1.197 and 2.1.332 (shared/claude-code-facts.md): a subscriber's limit ends the
turn with StopFailure `rate_limit` and `You've hit your 5-hour limit · resets 1:53am (UTC)`
(2.1.197: `session limit`), the time in Claude's time zone, a date when more than a day away
(`resets Dec 4, 12:11am (Europe/Berlin)`). 2.1.332 then shows `Continuing automatically at …` and
goes on by itself after the reset; 2.1.197 opens a menu (`What do you want to do?` … `Stop and
wait for limit to reset`) that swallows typed text until Escape closes it. An API key's 429 ends
with `API Error: Request rejected (429) · …` and names no time.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class Failure(enum.Enum):
    """What a turn that ended with StopFailure asks of us."""

    LIMIT = "limit"  # wait for the limit to reset, then go on
    TRANSIENT = "transient"  # Claude already retried: deliver the same message again, later
    FATAL = "fatal"  # Claude cannot work (key, billing, model): stop, exit 5
    TELL = "tell"  # the supervisor decides (a bad request, a reply cut at the token limit)


_KINDS = {
    "rate_limit": Failure.LIMIT,
    "server_error": Failure.TRANSIENT,
    "overloaded": Failure.TRANSIENT,
    "unknown": Failure.TRANSIENT,
    "authentication_failed": Failure.FATAL,
    "billing_error": Failure.FATAL,
    "oauth_org_not_allowed": Failure.FATAL,
    "model_not_found": Failure.FATAL,
    "invalid_request": Failure.TELL,
    "max_output_tokens": Failure.TELL,
}


def failure_kind(error: str) -> Failure:
    """The kind of a StopFailure `error` (one this release does not name: transient).

    >>> failure_kind('rate_limit'), failure_kind('billing_error'), failure_kind('new_thing')
    (<Failure.LIMIT: 'limit'>, <Failure.FATAL: 'fatal'>, <Failure.TRANSIENT: 'transient'>)
    """
    return _KINDS.get(error, Failure.TRANSIENT)


def kind_of_status(status: int) -> str:
    """An API's HTTP status in StopFailure's words, for an agent whose record gives only the
    status (Codex's `http_connection_failed`, Gemini's `[API Error: {"code": 401 …}]`).

    >>> [kind_of_status(c) for c in (401, 403, 402, 429, 404, 400, 413, 500, 529, 0)]
    ['authentication_failed', 'authentication_failed', 'billing_error', 'rate_limit', \
'model_not_found', 'invalid_request', 'invalid_request', 'server_error', 'overloaded', \
'server_error']
    """
    match status:
        case 401 | 403:
            return "authentication_failed"
        case 402:
            return "billing_error"
        case 429:
            return "rate_limit"
        case 404:
            return "model_not_found"
        case 529:
            return "overloaded"
        case _ if 400 <= status < 500 and status not in (408, 409):
            return "invalid_request"
        case _:
            return "server_error"


_RESETS = re.compile(
    r"resets\s+(?:(?P<month>[A-Z][a-z]{2})\s+(?P<day>\d{1,2}),\s*)?"
    r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s*(?P<ampm>[ap]m)\s*"
    r"(?:\((?P<zone>[A-Za-z0-9_+\-/]+)\))?", re.I)
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


def limit_reset(text: str, now: datetime, local: tzinfo | None = None) -> datetime | None:
    """When the limit in Claude's message resets, as an aware datetime (None when it names no
    time). The clock time is in the zone it names, else in Claude's local zone `local`; without
    a date it is the next such time after `now`.

    >>> now = datetime(2026, 12, 1, 22, 30, tzinfo=UTC)
    >>> limit_reset("You've hit your 5-hour limit · resets 11:01pm (UTC)", now)
    datetime.datetime(2026, 12, 1, 23, 1, tzinfo=datetime.timezone.utc)
    >>> limit_reset("You've hit your session limit · resets 1am (UTC)", now).day
    2
    >>> r = limit_reset("resets Dec 4, 12:11am (Europe/Berlin)", now)
    >>> (r.month, r.day, r.hour, r.minute, r.utcoffset().total_seconds() / 3600)
    (12, 4, 0, 11, 1.0)
    >>> limit_reset("API Error: Request rejected (429) · rate limited", now) is None
    True
    """
    m = _RESETS.search(text)
    if not m:
        return None
    zone = _zone(m.group("zone")) or local or now.tzinfo or UTC
    hour = int(m.group("hour")) % 12 + (12 if m.group("ampm").lower() == "pm" else 0)
    minute = int(m.group("minute") or 0)
    here = now.astimezone(zone)
    if m.group("month"):
        month = _MONTHS.index(m.group("month").lower()[:3]) + 1
        when = datetime(here.year, month, int(m.group("day")), hour, minute, tzinfo=zone)
        if when < here - timedelta(days=180):  # December's message about January
            when = when.replace(year=here.year + 1)
        return when
    when = here.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if when <= here - timedelta(minutes=1):
        when += timedelta(days=1)
    return when


def _zone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    if name.upper() in ("UTC", "GMT", "Z"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def continues_by_itself(lines: Sequence[str]) -> bool:
    """Claude says it will go on by itself once the limit resets (2.1.332).

    >>> continues_by_itself(['● Usage limit reached · set to continue automatically at 1:53am'])
    True
    >>> continues_by_itself(['    Continuing shortly · Esc to cancel'])
    True
    """
    return any("continue automatically" in ln or "Continuing automatically" in ln
               or "Continuing shortly" in ln for ln in lines)


def limit_menu(lines: Sequence[str]) -> bool:
    """The menu 2.1.197 opens at a subscriber's first limit (typed text is lost while it is
    open; Escape closes it)."""
    text = "\n".join(lines)
    return "Stop and wait for limit to reset" in text or ("/rate-limit-options" in text and (
        "What do you want to do?" in text))
