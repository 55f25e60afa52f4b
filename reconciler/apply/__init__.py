"""Apply a reviewed plan, safely: prove it again on the live orgs, run it, verify it.

`run.apply_reviewed` is the one entry point; `review` proves a plan, `executor` runs an
org's steps, `journal` records every call, `landed` tells whether a call whose answer was
lost took effect, `secrets` puts tokens into calls only as they are sent, `outcomes` holds
what apply reports.

Nothing is imported here: `review` and `outcomes` are pure and imported by the core, and
importing them runs this file first, so it must not pull in the modules that do I/O.
"""

from __future__ import annotations
