"""Ingest benchmark: registrations/s through the full head-end path vs the bare crypto.

Runs `sealmeter bench ingest --json` for SQLite (one worker) and, when PostgreSQL is
reachable, for PostgreSQL with two workers (which also measures one worker in the same run),
and prints one JSON object per run.
"""

from __future__ import annotations

import json
import socket

from sealmeter.benchmarks.ingest import IngestBenchConfig, run_ingest_bench


def _postgres_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def main() -> int:
    """Run the configurations and print their figures."""
    print(json.dumps(run_ingest_bench(IngestBenchConfig(store="sqlite"))), flush=True)
    if _postgres_up():
        cfg = IngestBenchConfig(store="postgresql", workers=2, meters=400)  # 200 per worker
        print(json.dumps(run_ingest_bench(cfg)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
