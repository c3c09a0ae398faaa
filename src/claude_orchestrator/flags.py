"""Command-line parsing that fails the way the rest of the tool does: one line, exit 2.

argparse's own answer to a typo is a usage dump on stderr and `SystemExit(2)`, and a mistyped
flag's value is often taken for the folder (`--max-iteratons 3 ~/p` says "unrecognized
arguments: --max-iteratons ~/p"). `Parser` names the unknown flag first, with the nearest real
one, and never accepts an abbreviation (`--max-iter`): abbreviations turn ambiguous, or change
meaning, as flags are added.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Sequence
from typing import Any, NoReturn

from claude_orchestrator.errors import UsageError


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are a `UsageError` of one line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")

    def parse_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                   namespace: argparse.Namespace | None = None) -> argparse.Namespace:
        if args is not None:
            self.check_flags(args)
        return super().parse_args(args, namespace)

    def check_flags(self, args: Sequence[str]) -> None:
        """The first word that looks like a flag and is none of ours: one line naming it and
        the nearest real flag. A known flag's value is skipped (`--task -x` is a task)."""
        takes_value = {flag for action in self._actions if action.nargs != 0
                       for flag in action.option_strings}
        known = self.flags()
        words = iter(args)
        for word in words:
            if word == "--":
                return
            if not word.startswith("-") or word == "-" or _is_number(word):
                continue
            name = word.split("=", 1)[0] if word.startswith("--") else word
            if name in known:
                if name in takes_value and name == word:
                    next(words, None)
                continue
            if not word.startswith("--") and len(word) > 2 and word[:2] in known:
                continue  # a short flag with its value attached (-n3)
            longer = sorted(k for k in known if k.startswith(name) and name.startswith("--"))
            if longer:
                raise UsageError(f"flags are never abbreviated: {name} could be "
                                 f"{' or '.join(longer)} (see {self.prog} --help)")
            close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise UsageError(f"unknown flag {name}{hint} (see {self.prog} --help)")

    def flags(self) -> set[str]:
        return {flag for action in self._actions for flag in action.option_strings}


def _is_number(word: str) -> bool:
    """`-1` or `-0.5` is a value, not a flag.

    >>> _is_number('-3'), _is_number('-0.5'), _is_number('-x')
    (True, True, False)
    """
    try:
        float(word)
    except ValueError:
        return False
    return True


def nearest(word: str, choices: Sequence[str]) -> str | None:
    """The choice a mistyped word most likely meant, if any is close.

    >>> nearest('run', ['runs', 'show', 'resume', 'batch']), nearest('xyz', ['runs'])
    ('runs', None)
    """
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None
