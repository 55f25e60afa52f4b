"""GitOps delivery on GitHub: the REST client, pull-request plan comments, drift issues,
and the runner's environment (inputs, outputs, job summary, log).

`reconciler.github_action` is the entry point that puts them together.
"""

from __future__ import annotations
