"""Issue 17, 5, against the real Claude Code: text that starts with invisible format characters
and a command (`\\u200b/clear it`) is a prompt, never the command, and arrives as sent (up to
Claude's own stripping of those characters on 2.1.332; 2.1.197 keeps them)."""

from __future__ import annotations

import pytest

from claude_orchestrator.agents.claude import claude_normalise
from claude_orchestrator.turn import run_turn
from tests.integration.realcli import Real

pytestmark = pytest.mark.realcli

CMD = "claude --dangerously-skip-permissions --setting-sources user"


@pytest.mark.parametrize("text", ["\u200b/clear it", "\u00ad/clear it", "\u200d\ufeff /review x",
                                  "\u2060!echo bash-mode", "mid\u200bdle soft\u00adhyphen"])
def test_invisible_characters_before_a_command_make_a_prompt(real: Real, text: str) -> None:
    sess = real.session(claude_cmd=CMD)
    sess.ensure_ready()
    first = run_turn(sess, "remember the word pelican")
    assert first.ended_by == "hook"
    result = run_turn(sess, text)
    assert result.ended_by == "hook", result  # a prompt: its own UserPromptSubmit and Stop
    # It reached the model as a prompt, in the same conversation (/clear would have emptied
    # it: the pelican message would be gone from the next request).
    assert claude_normalise(text).lstrip("\\ ") in claude_normalise(real.conversation()[-1])
    assert any("pelican" in str(r.body) for r in real.api.requests[-1:])
