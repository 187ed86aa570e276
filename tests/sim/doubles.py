"""A toy meter, head-end and attacker for testing the simulation engine's accounting.

They are test doubles, not the product: a small HMAC-authenticated protocol with the shape of
the real one (queued registrations with sequence numbers, nonces, acknowledgements, a fixed
rejection answer), so the engine's ledger can be checked on its own, fast, including against
deliberately broken doubles. The real meter and head-end are driven by `sealmeter.sim.wiring`.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from random import Random
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sealmeter.errors import PeerError
from sealmeter.sim import BillLine, TamperAct, Verdict, World

REJECTED = b"REJECTED"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
INTERVAL = timedelta(minutes=15)


class ToyRejected(PeerError):
    """The toy meter rejected a downlink."""


def _seal(key: bytes, obj: dict[str, Any]) -> bytes:
    body = json.dumps(obj, sort_keys=True).encode()
    return body + b"." + hmac.new(key, body, hashlib.sha256).hexdigest().encode()


def _open(key: bytes, data: bytes) -> dict[str, Any]:
    body, _, mac = data.rpartition(b".")
    good = hmac.new(key, body, hashlib.sha256).hexdigest().encode()
    if not body or not hmac.compare_digest(mac, good):
        raise ValueError("bad mac")
    obj = json.loads(body)
    if not isinstance(obj, dict):
        raise ValueError("not an object")
    return obj


class ToyMeter:
    def __init__(self, meter_id: str, key: bytes, feeder: int, *, lossy: bool = False) -> None:
        self.meter_id = meter_id
        self.customer = f"c-{meter_id}"
        self.feeder = feeder
        self.key = key
        self.lossy = lossy
        self.total_mwh = 0
        self.registered = 0
        self.seq = 0
        self.queue: list[tuple[int, int]] = []
        self.nonce = 0
        self.pending: int | None = None
        self.next_call = T0 + timedelta(hours=1 + feeder)
        self.failures = 0
        self.last_ack = T0
        self.now = T0
        self.powered = True
        self.tampered: list[str] = []
        self.bands: Counter[str] = Counter()

    def feed(self, start: datetime, interval: timedelta, energy_mwh: NDArray[np.int64]) -> None:
        for k, e in enumerate(energy_mwh.tolist()):
            hour = (start + k * interval).hour
            self.bands["night" if hour < 6 or hour >= 22 else "day"] += e
        self.total_mwh += int(energy_mwh.sum())

    def measured_units(self) -> int:
        return self.total_mwh // 1000

    def counted_units(self) -> int:
        return self.total_mwh // 1000 - (1 if self.lossy and self.total_mwh > 5000 else 0)

    def next_call_at(self) -> datetime:
        return self.next_call

    def make_uplink(self, now: datetime) -> bytes:
        if now < self.now:
            raise ToyRejected(f"clock went back from {self.now} to {now}")
        self.now = now
        fresh = self.counted_units() - self.registered
        if fresh > 0:
            self.seq += 1
            self.queue.append((self.seq, fresh))
            self.registered += fresh
        self.nonce += 1
        self.pending = self.nonce
        return _seal(
            self.key,
            {"m": self.meter_id, "n": self.nonce, "r": self.queue, "tamper": self.tampered},
        )

    def accept_downlink(self, data: bytes, now: datetime) -> None:
        try:
            obj = _open(self.key, data)
        except ValueError:
            raise ToyRejected("downlink failed verification") from None
        if obj.get("m") != self.meter_id or obj.get("n") != self.pending:
            raise ToyRejected("downlink not for this call")
        self.pending = None
        acked = int(obj["ack"])
        self.queue = [(s, u) for s, u in self.queue if s > acked]
        self.tampered = []
        self.last_ack = now
        self.failures = 0
        self.next_call = now + timedelta(days=1)

    def call_failed(self, now: datetime) -> None:
        self.now = now
        self.failures += 1
        self.next_call = now + min(timedelta(hours=12), timedelta(hours=1) * 2**self.failures)

    def power(self, on: bool, now: datetime) -> None:
        self.powered = on

    def tamper(self, act: TamperAct, now: datetime) -> None:
        self.tampered.append(act.value)

    def unstored_units(self, stored_seqs: frozenset[int]) -> int:
        open_units = self.counted_units() - self.registered
        return open_units + sum(u for s, u in self.queue if s not in stored_seqs)

    def blocked(self) -> bool:
        return self.now - self.last_ack > timedelta(days=7)

    def usage_by_band(self) -> dict[str, int]:
        return {band: mwh // 1000 for band, mwh in self.bands.items()}


class ToyHeadEnd:
    def __init__(
        self, keys: dict[str, bytes], *, careless: bool = False, torn_commits: bool = False
    ) -> None:
        self.keys = keys
        self.careless = careless
        self.torn_commits = torn_commits  # a crash before COMMIT keeps what it wrote (broken)
        self.db: dict[str, dict[int, int]] = {m: {} for m in keys}
        self.nonces: dict[str, set[int]] = {m: set() for m in keys}
        self.verdicts: dict[bytes, Verdict] = {}
        self.new_alerts: list[tuple[str, str, datetime, datetime]] = []
        self.last_seen: dict[str, datetime] = {}
        self.restarts = 0

    def _reject(self, data: bytes, reason: str) -> bytes:
        self.verdicts[hashlib.sha256(data).digest()] = Verdict(True, reason)
        return REJECTED

    def handle_batch(self, batch: Sequence[bytes], now: datetime) -> list[bytes]:
        return [self.handle(data, now) for data in batch]

    def handle(self, data: bytes, now: datetime) -> bytes:
        try:
            head = json.loads(data.rpartition(b".")[0])
            meter = head["m"]
            key = self.keys[meter]
        except (ValueError, KeyError, TypeError):
            return self._reject(data, "malformed")
        if head.get("suite", "strong") != "strong":
            return self._reject(data, "suite_mismatch")
        try:
            obj = head if self.careless else _open(key, data)
        except ValueError:
            return self._reject(data, "bad_signature")
        if obj["n"] in self.nonces[meter]:
            return self._reject(data, "replay")
        stored = self.db[meter]
        for seq, units in obj["r"]:
            if seq in stored and stored[seq] != units:
                return self._reject(data, "duplicate_conflict")
        self.nonces[meter].add(obj["n"])
        for seq, units in obj["r"]:
            stored.setdefault(seq, units)
        for _act in obj.get("tamper", []):
            self.new_alerts.append((meter, "tamper", now, now))
        self.last_seen[meter] = now
        self.verdicts[hashlib.sha256(data).digest()] = Verdict(False)
        return _seal(key, {"m": meter, "n": obj["n"], "ack": max(stored, default=0)})

    def verdict(self, data: bytes) -> Verdict | None:
        return self.verdicts.get(hashlib.sha256(data).digest())

    def stored(self, meter_id: str | None = None) -> dict[str, dict[int, int]]:
        return {m: dict(v) for m, v in self.db.items() if meter_id in (None, m)}

    def registrations(self) -> int:
        return sum(len(v) for v in self.db.values())

    def alerts(self, now: datetime) -> list[tuple[str, str, datetime, datetime]]:
        out, self.new_alerts = self.new_alerts, []
        for meter, seen in self.last_seen.items():
            if now - seen > timedelta(days=3):
                out.append((meter, "silent", now, now))
                self.last_seen[meter] = now
        return out

    def spawn(self) -> Any:
        return self.handle

    def restart(self) -> None:
        self.restarts += 1
        self.verdicts = dict(self.verdicts)

    def die_before_commit(self, handle: Any, data: bytes, now: datetime) -> bool:
        saved = copy.deepcopy((self.db, self.nonces, self.last_seen, self.verdicts))
        handle(data, now)  # the toy's "transaction" is the whole handle
        if not self.torn_commits:
            self.db, self.nonces, self.last_seen, self.verdicts = saved
        return True

    def bills(self, start: datetime, end: datetime) -> list[BillLine]:
        return [
            BillLine(f"c-{m}", 1, sum(v.values()), sum(v.values()) * 0.3, "EUR", True)
            for m, v in sorted(self.db.items())
        ]

    def close(self) -> None:
        pass


class ToyAttacker:
    def forged_enable_code(self, meter: Any, now: datetime) -> bytes:
        return _seal(b"rogue key", {"m": meter.meter_id, "n": meter.pending, "ack": 10**6})

    def downgraded_uplink(self, meter: Any, now: datetime) -> bytes:
        return _seal(meter.key, {"m": meter.meter_id, "n": -1, "r": [], "suite": "weak"})

    def clone(self, meter: Any) -> Any:
        twin = copy.deepcopy(meter)
        twin.nonce += 1000
        return twin


def toy_world(
    meters: int,
    seed: int = 1,
    *,
    careless: bool = False,
    lossy: bool = False,
    torn_commits: bool = False,
) -> World:
    rng = Random(seed)
    keys = {f"m{i:03d}": rng.randbytes(16) for i in range(meters)}
    fleet = [ToyMeter(m, k, i % 3, lossy=lossy) for i, (m, k) in enumerate(keys.items())]
    per_day = timedelta(days=1) // INTERVAL

    def load(day: int, when: date) -> NDArray[np.int64]:
        gen = np.random.default_rng([seed, day])
        return gen.integers(0, 400_000, size=(meters, per_day), dtype=np.int64)

    return World(
        fleet,
        ToyHeadEnd(keys, careless=careless, torn_commits=torn_commits),
        ToyAttacker(),
        load,
        T0,
        INTERVAL,
    )
