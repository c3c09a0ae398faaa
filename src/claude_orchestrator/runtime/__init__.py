"""The runtime under the agent: the private tmux server (`tmux`), waiting without polling
(`watch`), Claude's hooks as an event channel (`hooks`), one orchestrator per session (`lock`)."""
