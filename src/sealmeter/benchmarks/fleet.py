"""Fleet throughput: simulated meter-days per second with full crypto, and crypto's share.

The fleet runs the `normal` scenario (no faults) in process, every meter a real
`sealmeter.meter.Meter` on its own simulated EEPROM with its own keys, the head-end a real
`HeadEnd` on SQLite, consumption at 15-minute resolution. What the defaults add, and the
JSON says (`workers`, `batch_minutes`, `feed_minutes`, `setup`):

- **Sharding** (`workers`, default 2): the fleet is split over that many worker processes;
  each builds its shard (its own seed, meter ids continuing the previous shard's) against
  its **own head-end on its own SQLite file**, then all simulate together. `wall_s` is the
  longest worker's simulation; `worker_s` / `worker_cpu_s` add up the workers' wall / CPU
  seconds; building is `build_s`, apart.
- **Batched calls** (`batch_minutes`, default 60; 0 = off): the uplinks of each window go
  to the head-end in one `HeadEnd.handle_uplinks` transaction and each meter gets its
  answer at the window's end (`sealmeter.sim.SimOptions.batch`).
- **Feed** (`feed_minutes`, default 15): every quarter hour of the profile reaches the meter
  as it is (`Meter.feed_intervals`, a day per call); 60 sums four quarters first.

Time in cryptography (`crypto_s`) is measured by timing the protocol's primitives (key
encapsulation and decapsulation, the answer key's derivation, signing and verification, AEAD
opening, the meter's MAC chain) and the meter's sealing of its secrets, in every worker,
summed; `crypto_share` divides it by the workers' summed wall time. It leaves out crypto
calls made inline, so it errs low: AEAD encryption inside a seal, the head-end's chain check
(two HMAC-SHA256 and a SHA-256 per registration, in `HeadEndChain.verify_batch`) and its
sealing of chain state at rest. Beside it, the bare cost of one exchange (a call and its
answer: 2 signatures and 2 verifications, 2 X25519 key agreements, 4 HKDF, 2 AEAD seals and
opens) is measured in the same run. The time inside the meters (feeding, sealing uplinks,
opening downlinks) and inside the head-end's ingest is reported too, to show where the rest
goes.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

__all__ = ["bare_exchange_crypto_s", "crypto_timer", "run_fleet_bench"]

GOAL_METER_DAYS = 1000 * 365
GOAL_SECONDS = 300.0


@contextlib.contextmanager
def crypto_timer() -> Iterator[list[float]]:
    """Time every call into the crypto primitives while the block runs; yields [seconds]."""
    import sealmeter.meter._core as meter_core
    import sealmeter.meter.module as meter_module
    import sealmeter.protocol._suites as suites
    import sealmeter.protocol.answer as answer
    import sealmeter.protocol.chain as chain

    spent = [0.0]
    depth = [0]
    targets: list[tuple[Any, str]] = [
        (suites, "encapsulate"),
        (suites, "decapsulate"),
        (suites, "sign"),
        (suites, "verify"),
        (suites, "open_aead"),
        (chain, "_mac"),
        (answer, "derive_answer_key"),  # HKDF of the call's shared secret, both ends
        # the module seals its chain state where it uses it: provisioning and boot in
        # `module`, every registration in `_core`
        (meter_module, "seal_secret"),
        (meter_module, "unseal_secret"),
        (meter_core, "seal_secret"),
    ]
    saved = [(mod, name, getattr(mod, name)) for mod, name in targets if hasattr(mod, name)]

    def timed(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if depth[0]:
                return fn(*args, **kwargs)
            depth[0] += 1
            began = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - began
                depth[0] -= 1

        return wrapper

    for mod, name, fn in saved:
        setattr(mod, name, timed(fn))
    try:
        yield spent
    finally:
        for mod, name, fn in saved:
            setattr(mod, name, fn)


def _time_calls(obj: Any, names: tuple[str, ...], total: list[float]) -> None:
    """Replace `obj`'s methods `names` by timed versions adding their seconds to `total`."""
    for name in names:
        fn = getattr(obj, name)

        def timed(*args: Any, _fn: Callable[..., Any] = fn, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return _fn(*args, **kwargs)
            finally:
                total[0] += time.perf_counter() - began

        setattr(obj, name, timed)


def bare_exchange_crypto_s(rounds: int = 200) -> float:
    """Seconds for the bare crypto of one exchange (ec-modern suite, a call and its answer).

    The call: an ephemeral X25519 key, a key agreement at each end, HKDF of the content key
    and of the answer key at each end, AEAD seal and open, an Ed25519 signature and its
    verification. The answer: AEAD seal and open under the answer key, a signature and its
    verification (no key agreement: that is what answers keyed by their call save).
    """
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    meter_sig, head_sig = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    head_kx = x25519.X25519PrivateKey.generate()
    head_pub = head_kx.public_key()
    body, nonce = os.urandom(600), b"\x00" * 12

    def kdf(secret: bytes, info: bytes) -> bytes:
        return HKDF(hashes.SHA256(), 32, None, info).derive(secret)

    began = time.perf_counter()
    for _ in range(rounds):
        eph = x25519.X25519PrivateKey.generate()  # the meter seals its call
        shared = eph.exchange(head_pub)
        call = ChaCha20Poly1305(kdf(shared, b"content")).encrypt(nonce, body, None)
        sig = meter_sig.sign(call)
        answer_key = kdf(shared, b"answer")
        meter_sig.public_key().verify(sig, call)  # the head-end opens it
        shared = head_kx.exchange(eph.public_key())
        ChaCha20Poly1305(kdf(shared, b"content")).decrypt(nonce, call, None)
        answer_key = kdf(shared, b"answer")
        answer = ChaCha20Poly1305(answer_key).encrypt(nonce, body, None)  # and answers
        sig = head_sig.sign(answer)
        head_sig.public_key().verify(sig, answer)  # the meter opens the answer
        ChaCha20Poly1305(answer_key).decrypt(nonce, answer, None)
    return (time.perf_counter() - began) / rounds


def _shard(
    meters: int,
    days: int,
    *,
    seed: int,
    first_id: int,
    feed_minutes: int,
    batch_minutes: int,
    ready: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Build and run one shard of the fleet in this process; its figures (see the module doc).

    `ready` is called between the build and the run (a barrier, so shards run together)."""
    from sealmeter.sim import SimOptions, load_scenario, run_simulation
    from sealmeter.sim.wiring import build_world

    scenario = load_scenario("normal")
    scenario = replace(scenario, fleet=replace(scenario.fleet, meters=meters, days=days))
    folder = Path(tempfile.mkdtemp(prefix="sealmeter-bench-"))
    began = time.perf_counter()
    world = build_world(
        scenario.fleet,
        meters,
        days,
        seed=seed,
        workdir=folder,
        feed_step=feed_minutes // 15,
        first_id=first_id,
    )
    build_s = time.perf_counter() - began
    parts = {"headend_s": [0.0], "meter_s": [0.0]}
    _time_calls(world.headend, ("handle", "handle_batch"), parts["headend_s"])
    for meter in world.meters:
        _time_calls(meter, ("feed", "make_uplink", "accept_downlink"), parts["meter_s"])
    batch = timedelta(minutes=batch_minutes) if batch_minutes else None
    options = SimOptions(scenario, meters, days, seed=seed, batch=batch)
    if ready is not None:
        ready()
    cpu = time.process_time()
    with crypto_timer() as spent:
        ledger = run_simulation(world, options)
    cpu_s = time.process_time() - cpu
    world.headend.close()
    out = ledger.as_json()
    return {
        "meters": meters,
        "build_s": build_s,
        "wall_s": ledger.wall_s,
        "cpu_s": cpu_s,
        "crypto_s": spent[0],
        "headend_s": parts["headend_s"][0],
        "meter_s": parts["meter_s"][0],
        "uplinks": out["uplinks"],
        "registrations": out["registrations"],
        "units": out["units"],
        "units_lost": out["units_lost"],
        "units_invented": out["units_invented"],
        "meters_stuck": out["meters_stuck"],
    }


def _shard_main(kwargs: dict[str, Any], barrier: Any, results: Any) -> None:
    """Entry point of a worker process: run a shard, put its figures (or error) on `results`."""
    try:
        results.put(_shard(**kwargs, ready=barrier.wait))
    except BaseException as exc:  # report, never hang the parent
        barrier.abort()
        results.put({"error": f"{type(exc).__name__}: {exc}"})


def _run_shards(shards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run each shard in its own process; they start simulating together after building."""
    import multiprocessing as mp

    ctx: Any = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    barrier = ctx.Barrier(len(shards))
    results = ctx.Queue()
    procs = [ctx.Process(target=_shard_main, args=(kw, barrier, results)) for kw in shards]
    for proc in procs:
        proc.start()
    got = [results.get() for _ in procs]
    for proc in procs:
        proc.join()
    failed = [r["error"] for r in got if "error" in r]
    if failed:
        raise RuntimeError(f"a fleet bench worker failed: {failed[0]}")
    return got


def run_fleet_bench(
    meters: int = 20,
    days: int = 30,
    *,
    seed: int = 1,
    feed_minutes: int = 15,
    batch_minutes: int = 60,
    workers: int = 2,
) -> dict[str, Any]:
    """Run the fleet and return the figures (see the module docstring).

    `workers` > 1 shards the fleet over that many processes (meters split as evenly as
    possible, each shard with its own seed and meter ids and its own head-end on its own
    SQLite file); `batch_minutes` 0 answers every call at once instead of in windows;
    `feed_minutes` is how much consumption the meter gets per interval (15: every
    quarter hour of the profile as it is).
    """
    if feed_minutes % 15 or feed_minutes < 15:
        raise ValueError(f"feed_minutes={feed_minutes} must be a multiple of 15")
    workers = max(1, min(workers, meters))
    sizes = [meters // workers + (1 if k < meters % workers else 0) for k in range(workers)]
    shards: list[dict[str, Any]] = [
        {
            "meters": size,
            "days": days,
            "seed": seed + 7919 * k,
            "first_id": sum(sizes[:k]),
            "feed_minutes": feed_minutes,
            "batch_minutes": batch_minutes,
        }
        for k, size in enumerate(sizes)
    ]
    began = time.perf_counter()
    results = [_shard(**shards[0])] if workers == 1 else _run_shards(shards)
    elapsed = time.perf_counter() - began
    wall = max(r["wall_s"] for r in results)
    worker_s = sum(r["wall_s"] for r in results)
    crypto_s = sum(r["crypto_s"] for r in results)
    uplinks = sum(r["uplinks"] for r in results)
    bare = bare_exchange_crypto_s()
    meter_days = meters * days
    rate = meter_days / wall if wall else 0.0
    units = {
        key: sum(r["units"][key] for r in results)
        for key in ("measured", "counted", "stored", "queued")
    }
    return {
        "meters": meters,
        "days": days,
        "meter_days": meter_days,
        "resolution_minutes": 15,
        "feed_minutes": feed_minutes,
        "batch_minutes": batch_minutes,
        "workers": workers,
        "setup": (
            f"normal scenario, in process, full crypto, real meters; {workers} worker "
            f"process(es), each with its shard of the fleet and its own head-end on SQLite; "
            + (
                f"uplinks handed to the head-end in {batch_minutes}-minute windows"
                if batch_minutes
                else "every call answered at once"
            )
        ),
        "build_s": round(max(r["build_s"] for r in results), 3),
        "wall_s": round(wall, 3),
        "elapsed_s": round(elapsed, 3),
        "worker_s": round(worker_s, 3),
        "worker_cpu_s": round(sum(r["cpu_s"] for r in results), 3),
        "meter_days_per_s": round(rate, 2),
        "uplinks": uplinks,
        "registrations": sum(r["registrations"] for r in results),
        "units": units,
        "units_lost": sum(r["units_lost"] for r in results),
        "units_invented": sum(r["units_invented"] for r in results),
        "meters_stuck": sum(r["meters_stuck"] for r in results),
        "headend_ingest_s": round(sum(r["headend_s"] for r in results), 3),
        "meter_s": round(sum(r["meter_s"] for r in results), 3),
        "crypto_s": round(crypto_s, 3),
        "crypto_share": round(crypto_s / worker_s, 4) if worker_s else 0.0,
        "bare_exchange_crypto_ms": round(bare * 1000, 4),
        "bare_crypto_share": round(bare * uplinks / worker_s, 4) if worker_s else 0.0,
        "projected_s_for_1000_meters_365_days": round(GOAL_METER_DAYS / rate, 1) if rate else None,
        "goal_s": GOAL_SECONDS,
    }
