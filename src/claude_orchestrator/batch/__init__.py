"""Many tasks at once: a batch of autonomous runs, each its own process (see runner.py)."""
