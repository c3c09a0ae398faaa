"""`serve --allow-send`: a message from a running chat's page goes to the chat's inbox
(runtime/inbox.py), never into tmux. The chat delivers it itself between turns, on the path
of a message typed at its prompt (queued while Claude works; never Ctrl-C)."""

from __future__ import annotations

import os
import socket

from claude_orchestrator.runlog import RunRecord
from claude_orchestrator.runtime.inbox import send
from claude_orchestrator.runtime.state import UnsafeState, state_root
from claude_orchestrator.screen import sanitize_message


def hand_to_chat(run: RunRecord, text: str) -> str:
    """'' when the chat queued the message, else one line saying why not."""
    if run.mode != "chat" or run.status != "running":
        return "only a running chat session takes messages from the page"
    if run.host != socket.gethostname():
        return f"this chat runs on {run.host}, not here"
    if not run.socket or not run.session:
        return "this chat has no tmux session recorded"
    text = sanitize_message(text.replace("\r\n", "\n"))
    if not text.strip():
        return "the message is empty"
    try:
        folder = state_root(os.environ) / f"{run.socket}.{run.session}"
    except UnsafeState as e:
        return str(e)
    return send(folder, text)
