"""Run the metering benchmark and print its JSON (same as `sealmeter bench metering --json`)."""

from __future__ import annotations

import json
import sys

from sealmeter.benchmarks.metering import run


def main() -> int:
    """Print the benchmark's figures as one JSON object; `--quick` for a short run."""
    print(json.dumps(run(quick="--quick" in sys.argv[1:]), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
