"""The command layer: what `dxorg` and the GitHub Action do, as library functions.

Each module is one command. It takes a request (a frozen value: the manifests, where the
platform is, the state directory, the flags, and the hooks a presenter listens on) and
returns a result (the plan, the apply outcome, the access review, ...). A command prints
nothing, knows no exit code and no typer or GitHub: the entry points (`reconciler.cli`,
`reconciler.github_action`) turn options into a request, run the command and hand its
result to their presenter; `exit_codes` is the one table from an outcome to an exit code.
"""

from __future__ import annotations
