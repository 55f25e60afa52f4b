"""How each entry point shows a command's result: `terminal` for the CLI, `github` for
the Action (its log, job summary, outputs). Presenters run no command."""

from __future__ import annotations
