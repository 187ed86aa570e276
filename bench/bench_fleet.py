"""Fleet throughput benchmark: prints one JSON object (see sealmeter.benchmarks.fleet)."""

from __future__ import annotations

import json
import sys

from sealmeter.benchmarks.fleet import run_fleet_bench


def main() -> int:
    """Run the fleet benchmark with `[meters] [days] [workers]` from the command line."""
    meters = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    days = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    print(json.dumps(run_fleet_bench(meters=meters, days=days, workers=workers), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
