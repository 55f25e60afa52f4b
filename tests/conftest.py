"""Settings for the whole suite."""

from __future__ import annotations

import signal

# Several tests press Ctrl-C (SIGINT) at a dxorg process, as a person at a terminal would.
# A job started in the background by a non-interactive shell (a CI runner, `cmd &`) ignores
# SIGINT, and an ignored signal stays ignored across exec: every process the tests start
# would then shrug off the Ctrl-C. A handler does not survive exec, so installing Python's
# own here gives each child the default a terminal session has.
signal.signal(signal.SIGINT, signal.default_int_handler)
