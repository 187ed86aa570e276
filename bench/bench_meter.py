"""Security-module benchmark: feed, uplink, downlink and wear; prints one JSON object."""

from __future__ import annotations

import json

from sealmeter.benchmarks.meter import run

if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
