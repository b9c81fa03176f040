"""Benchmarks: `python -m benchmarks.NAME`; each ends with one line of key=value figures."""
