"""Apply a reviewed plan, safely: prove it again on the live orgs, run it, verify it.

`apply_reviewed` (run.py) is the one entry point; `review` proves a plan, `executor`
runs an org's steps, `journal` records every call, `landed` tells whether a call whose
answer was lost took effect, `secrets` puts tokens into calls only as they are sent.
"""

from __future__ import annotations

from reconciler.apply.executor import GuardRefused, ProgressHook
from reconciler.apply.journal import DEFAULT_JOURNAL, Journal, created_accounts, redact
from reconciler.apply.outcomes import ActionOutcome, ApplyReport, OrgApplyReport, Status
from reconciler.apply.run import apply_reviewed, reviewed_orgs

__all__ = [
    "DEFAULT_JOURNAL",
    "ActionOutcome",
    "ApplyReport",
    "GuardRefused",
    "Journal",
    "OrgApplyReport",
    "ProgressHook",
    "Status",
    "apply_reviewed",
    "created_accounts",
    "redact",
    "reviewed_orgs",
]
