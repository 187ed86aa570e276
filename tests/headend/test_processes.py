"""Real processes: concurrent ingest of the same uplinks, and a SIGKILL in the middle of a batch."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sealmeter.headend import BoxKeys, HeadEnd
from sealmeter.headend.testing import MeterSide
from sealmeter.protocol import Suite
from tests.headend._worker import write_uplinks
from tests.headend.conftest import T0
from tests.headend.test_ingest import USAGE
from tests.store.conftest import Database

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "test-only passphrase"


def _fleet(
    he: HeadEnd, keys: BoxKeys, n_meters: int, regs: int, ups: int, seed: int
) -> tuple[list[bytes], dict[str, int]]:
    """Provision meters; each makes `ups` cumulative uplinks (no acks fed back) of `regs`."""
    rng = random.Random(seed)
    uplinks: list[bytes] = []
    made: dict[str, int] = {}
    for i in range(n_meters):
        m = MeterSide(f"w{i:02d}", keys.public(Suite.EC_MODERN), random.Random(seed + i))
        he.provision(m.provisioning(f"c{i}"), T0)
        for u in range(ups):
            for r in range(regs):
                m.register(T0.replace(hour=u, minute=r), USAGE)
            uplinks.append(m.uplink(T0.replace(hour=u, minute=59)))
        made[m.meter_id] = ups * regs
    rng.shuffle(uplinks)
    return uplinks, made


def _spawn(
    db: Database, keyfile: Path, uplinks: Path, batch: int, pause_at: int = -1
) -> subprocess.Popen[str]:
    args = [
        sys.executable,
        "-m",
        "tests.headend._worker",
        db.url,
        db.schema or "",
        str(keyfile),
        str(uplinks),
        str(batch),
    ]
    if pause_at >= 0:
        args.append(str(pause_at))
    env = {**os.environ, "SEALMETER_KEY_PASSPHRASE": PASSPHRASE}
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)


def _check_exactly_once(he: HeadEnd, made: dict[str, int]) -> None:
    regs = he.list_registrations(limit=1000)
    seen: dict[str, list[int]] = {}
    cursor = None
    while True:
        regs = he.list_registrations(cursor=cursor, limit=1000)
        for r in regs.items:
            seen.setdefault(r.meter_id, []).append(r.seq)
        if regs.next_cursor is None:
            break
        cursor = regs.next_cursor
    assert {m: sorted(s) for m, s in seen.items()} == {
        m: list(range(1, n + 1)) for m, n in made.items()
    }
    for meter_id, n in made.items():
        assert he.get_meter(meter_id).last_seq == n


@pytest.mark.slow
def test_several_processes_ingesting_the_same_uplinks_store_each_once(
    database: Database, tmp_path: Path
) -> None:
    keys = BoxKeys.generate([Suite.EC_MODERN])
    keyfile = tmp_path / "box.keys"
    keys.save(keyfile, PASSPHRASE.encode())
    he = HeadEnd(database.open(), keys)
    uplinks, made = _fleet(he, keys, n_meters=6, regs=4, ups=5, seed=11)
    workers = []
    for w in range(3):
        mine = list(uplinks)
        random.Random(w).shuffle(mine)
        path = tmp_path / f"uplinks-{w}.bin"
        write_uplinks(path, mine)
        workers.append(_spawn(database, keyfile, path, batch=4))
    try:
        outputs = [p.communicate(timeout=240)[0] for p in workers]
    finally:
        for p in workers:
            if p.poll() is None:
                p.kill()
                p.communicate()
    assert [p.returncode for p in workers] == [0, 0, 0]
    for out in outputs:
        verdicts = [line.split()[1] for line in out.splitlines() if line[0].isdigit()]
        assert verdicts == ["ok"] * len(uplinks), "an authentic uplink was refused"
    _check_exactly_once(he, made)
    assert he.list_rejections().items == ()
    he.close()


@pytest.mark.slow
def test_sigkill_in_the_middle_of_a_batch_loses_nothing_acknowledged(
    database: Database, tmp_path: Path
) -> None:
    keys = BoxKeys.generate([Suite.EC_MODERN])
    keyfile = tmp_path / "box.keys"
    keys.save(keyfile, PASSPHRASE.encode())
    he = HeadEnd(database.open(), keys)
    # one uplink per meter, so "acknowledged" maps to exactly one meter's registrations
    uplinks, made = _fleet(he, keys, n_meters=12, regs=3, ups=1, seed=5)
    path = tmp_path / "uplinks.bin"
    write_uplinks(path, uplinks)
    proc = _spawn(database, keyfile, path, batch=3, pause_at=2)
    assert proc.stdout is not None
    acknowledged: list[int] = []
    try:
        for line in proc.stdout:
            if line.startswith("PAUSED"):
                break
            index, verdict = line.split()
            assert verdict == "ok"
            acknowledged.append(int(index))
        else:
            pytest.fail("the worker finished without reaching the pause")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert acknowledged == list(range(6))  # two batches were committed and answered
    after_crash = HeadEnd(database.open(), keys)
    stored = {r.meter_id for r in after_crash.list_registrations(limit=1000).items}
    acked_meters = {_meter_of(uplinks[i]) for i in acknowledged}
    assert acked_meters <= stored  # nothing acknowledged was lost
    assert stored == acked_meters  # and the killed batch left no half
    assert len(after_crash.list_enable_codes(limit=1000).items) == len(acknowledged)
    # restart and re-deliver everything (the meters still hold what was not acknowledged)
    answers = after_crash.handle_uplinks(uplinks, T0)
    assert all(len(a) > 40 for a in answers)
    _check_exactly_once(after_crash, made)
    after_crash.close()
    he.close()


def _meter_of(uplink: bytes) -> str:
    from sealmeter.protocol import peek_header

    return peek_header(uplink).meter_id
