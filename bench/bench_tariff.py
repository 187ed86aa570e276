"""Billing benchmark: a year of 15-minute data per meter; prints one JSON object."""

from __future__ import annotations

import json

from sealmeter.benchmarks.tariff import run

if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
