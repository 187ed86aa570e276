"""Run the counter benchmark and print its JSON (tearing, lifetime, garbage, speed)."""

from __future__ import annotations

import json
import sys

from sealmeter.benchmarks.counter import run


def main() -> int:
    """Print one JSON object with the counter figures; progress goes to stderr."""
    result = run(progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(json.dumps(result, indent=2))
    return 1 if result["tearing"]["violations"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
