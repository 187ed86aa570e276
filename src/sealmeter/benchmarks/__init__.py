"""Benchmarks of each part, as functions returning one JSON-ready dict.

`sealmeter bench NAME --json` and the scripts in `bench/` call these. Every benchmark reports
its figure beside the raw cost of the work it wraps (the bare crypto primitive, a bare NumPy
reduction, ...) measured in the same run, as a ratio.
"""

__all__: list[str] = []
