"""Protocol benchmark: full uplink seal and open per suite beside the bare primitives (JSON)."""

from __future__ import annotations

import json
import sys

from sealmeter.benchmarks.protocol import run


def main() -> int:
    """Run the protocol benchmark with its defaults and print its JSON."""
    print(json.dumps(run(), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
