"""The benchmark suite: `.venv/bin/python bench/run_all.py` (see bench/RESULTS.md)."""
