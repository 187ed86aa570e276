"""Run every benchmark through the command line and print each JSON result."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS: list[list[str]] = []


def main() -> int:
    """Run each registered benchmark in turn; return the first failing exit code."""
    for args in BENCHMARKS:
        print(f"== sealmeter bench {' '.join(args)}", flush=True)
        done = subprocess.run([sys.executable, "-m", "sealmeter", "bench", *args], check=False)
        if done.returncode != 0:
            return done.returncode
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
