"""What a page or an export redacts: the run log holds text already redacted with each run's
own secrets, and pages redact again with every secret this process can know of, so that a
value that reached the log some other way is still never shown.

They are: the supervisor's key (`OPENROUTER_API_KEY`, or the file `OPENROUTER_API_KEY_FILE`
names), the values of the variables withheld from Claude (`CLAUDE_ORCHESTRATOR_WITHHOLD_ENV`,
and each run's recorded list), the notification URLs' secrets, and any extra value (the page's
own token). Bearer tokens and `sk-` keys are redacted whatever they are.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from pathlib import Path

from claude_orchestrator.runlog import RunRecord
from claude_orchestrator.secrets import Redactor, url_secrets

KEY_ENV = "OPENROUTER_API_KEY"
NOTIFY_ENV = "CLAUDE_ORCHESTRATOR_NOTIFY"


def page_redactor(environ: Mapping[str, str], runs: Iterable[RunRecord] = (),
                  extra: Iterable[str] = ()) -> Redactor:
    """A Redactor of every secret named above."""
    secrets = [environ.get(KEY_ENV, ""), *extra]
    key_file = environ.get("OPENROUTER_API_KEY_FILE", "").strip()
    if key_file:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            secrets.append(Path(key_file).expanduser().read_text(encoding="utf-8").strip())
    names = {n.strip() for n in environ.get("CLAUDE_ORCHESTRATOR_WITHHOLD_ENV", "").split(",")}
    for run in runs:
        names |= {n.strip() for n in str(run.settings.get("withhold_env") or "").split(",")}
    secrets += [environ.get(n, "") for n in names if n]
    for url in environ.get(NOTIFY_ENV, "").split(","):
        secrets += url_secrets(url)
    return Redactor(secrets)
