"""The access review report (`dxorg report`): collection (I/O) in `collect` and
`git_blame`, the pure builder in `build`, the value in `value`, one renderer per format
in `as_markdown`, `as_csv`, `as_json` and `as_html`."""

from __future__ import annotations
