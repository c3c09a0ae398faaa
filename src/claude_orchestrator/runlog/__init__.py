"""The run log: every run, turn and supervisor call in SQLite (`log`), its schema as named
migrations (`migrations`), and how runs read in a terminal (`format`)."""

from claude_orchestrator.runlog.log import (
    BatchSummary,
    Pause,
    RunLog,
    RunLogError,
    RunLogMissing,
    RunNotFound,
    RunRecord,
    SupervisorCall,
    TurnRecord,
    Verification,
    default_runlog_path,
    open_runlog,
    scrub_settings,
)

__all__ = [
    "BatchSummary",
    "Pause",
    "RunLog",
    "RunLogError",
    "RunLogMissing",
    "RunNotFound",
    "RunRecord",
    "SupervisorCall",
    "TurnRecord",
    "Verification",
    "default_runlog_path",
    "open_runlog",
    "scrub_settings",
]
