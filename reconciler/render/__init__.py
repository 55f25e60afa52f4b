"""Renderers of a Plan: text for a terminal, Markdown for a pull request, JSON for machines."""

from __future__ import annotations
