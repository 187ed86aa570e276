"""A head-end ingest process for the multi-process and crash tests (run with `python -m`).

    python -m tests.headend._worker URL SCHEMA KEYFILE UPLINKS BATCH [PAUSE_AT_BATCH]

Reads length-prefixed uplinks from UPLINKS, ingests them BATCH at a time, and after each
committed batch prints one line per uplink: "<index> ok|rejected". With PAUSE_AT_BATCH it
prints "PAUSED" in the middle of that batch (after the registrations are written, before the
commit) and sleeps, so the test can SIGKILL it there. Passphrase from the environment.
"""

from __future__ import annotations

import struct
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sealmeter.headend import REJECTION_ANSWER, BoxKeys, HeadEnd, passphrase_from_env
from sealmeter.store import Store


def read_uplinks(path: Path) -> list[bytes]:
    """The uplinks of a file written by `write_uplinks`."""
    data = path.read_bytes()
    out: list[bytes] = []
    pos = 0
    while pos < len(data):
        (size,) = struct.unpack_from(">I", data, pos)
        out.append(data[pos + 4 : pos + 4 + size])
        pos += 4 + size
    return out


def write_uplinks(path: Path, uplinks: list[bytes]) -> None:
    """Store uplinks length-prefixed."""
    path.write_bytes(b"".join(struct.pack(">I", len(u)) + u for u in uplinks))


def main(argv: list[str]) -> int:
    """Run one ingest worker (see module docstring)."""
    url, schema, keyfile, uplinks_path, batch_size = argv[:5]
    pause_at = int(argv[5]) if len(argv) > 5 else -1
    keys = BoxKeys.load(Path(keyfile), passphrase_from_env())
    batch_no = 0

    def hook(step: str) -> None:
        if batch_no == pause_at and step == "registrations":
            print("PAUSED", flush=True)
            time.sleep(120)

    store = Store.open(url, schema=schema or None, hook=hook)
    he = HeadEnd(store, keys)
    uplinks = read_uplinks(Path(uplinks_path))
    size = int(batch_size)
    now = datetime(2026, 3, 3, tzinfo=UTC)
    for start in range(0, len(uplinks), size):
        answers = he.handle_uplinks(uplinks[start : start + size], now)
        for i, answer in enumerate(answers):
            verdict = "rejected" if answer == REJECTION_ANSWER else "ok"
            print(f"{start + i} {verdict}", flush=True)
        batch_no += 1
    print(f"RETRIES {he.metrics()['batch_retries']}", flush=True)
    he.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
