"""Web doors benchmark: uplinks through POST /v1/uplink and a page of the REST API, each
beside the same head-end call made directly in the same run (`sealmeter bench web --json`)."""

from __future__ import annotations

import json

from sealmeter.benchmarks.web import run_web_bench


def main() -> int:
    """Run the benchmark and print its figures as one JSON object."""
    print(json.dumps(run_web_bench()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
