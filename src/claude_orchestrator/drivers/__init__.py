"""The two drivers of a session: a person (`chat`) and the supervisor LLM (`autonomous`)."""
