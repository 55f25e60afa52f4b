"""Conformance runs against the emulator: `run_dx_toolkit_tests.py` (see reconciler/emulator/README.md)."""
