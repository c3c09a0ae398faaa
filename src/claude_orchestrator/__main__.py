"""`python -m claude_orchestrator`."""

from claude_orchestrator.cli import main

raise SystemExit(main())
