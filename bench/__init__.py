"""Benchmarks (not tests): each script prints a table of figures and ratios to the raw engine.

Run them all with ``python -m bench.run_all`` (``--small`` for a smoke run); see README.md.
"""
