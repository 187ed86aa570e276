"""Fleet throughput: simulated meter-days per second with full crypto, and crypto's share.

The fleet runs in process on SQLite (the `normal` scenario, no faults), every meter a real
`sealmeter.meter.Meter` and the head-end a real `HeadEnd`. Time spent in cryptography is
measured by timing the protocol's primitives (key encapsulation, signatures, AEAD opening,
the MAC chain) and the meter's sealing of its secrets while the fleet runs; beside it, the
bare cost of one exchange's public-key work (2 signatures, 2 verifications, 2 X25519 key
agreements, 2 AEAD seals and opens) is measured in the same run. The time inside the meters
(feeding, sealing uplinks, opening downlinks) and inside the head-end's ingest is reported
too, to show where the rest goes.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

__all__ = ["bare_exchange_crypto_s", "crypto_timer", "run_fleet_bench"]

GOAL_METER_DAYS = 1000 * 365
GOAL_SECONDS = 300.0


@contextlib.contextmanager
def crypto_timer() -> Iterator[list[float]]:
    """Time every call into the crypto primitives while the block runs; yields [seconds]."""
    import sealmeter.meter.module as meter_module
    import sealmeter.protocol._suites as suites
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
        (meter_module, "seal_secret"),
        (meter_module, "unseal_secret"),
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
    """Seconds for the bare public-key work of one exchange (ec-modern suite), averaged."""
    from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    sig_a, sig_b = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    kx_a, kx_b = x25519.X25519PrivateKey.generate(), x25519.X25519PrivateKey.generate()
    body = os.urandom(600)
    began = time.perf_counter()
    for _ in range(rounds):
        for signer, peer, kx, other in ((sig_a, sig_b, kx_a, kx_b), (sig_b, sig_a, kx_b, kx_a)):
            eph = x25519.X25519PrivateKey.generate()
            secret = eph.exchange(other.public_key())
            aead = ChaCha20Poly1305(secret)
            sealed = aead.encrypt(b"\x00" * 12, body, None)
            sig = signer.sign(sealed)
            signer.public_key().verify(sig, sealed)
            ChaCha20Poly1305(other.exchange(eph.public_key())).decrypt(b"\x00" * 12, sealed, None)
            del peer, kx
    return (time.perf_counter() - began) / rounds


def run_fleet_bench(
    meters: int = 20, days: int = 30, *, seed: int = 1, feed_minutes: int = 60
) -> dict[str, Any]:
    """Run the fleet and return the figures (see the module docstring)."""
    from sealmeter.sim import SimOptions, load_scenario, run_simulation
    from sealmeter.sim.wiring import build_world

    scenario = load_scenario("normal")
    scenario = replace(scenario, fleet=replace(scenario.fleet, meters=meters, days=days))
    folder = Path(tempfile.mkdtemp(prefix="sealmeter-bench-"))
    began = time.perf_counter()
    world = build_world(
        scenario.fleet, meters, days, seed=seed, workdir=folder, feed_step=feed_minutes // 15
    )
    build_s = time.perf_counter() - began
    parts = {"headend_s": [0.0], "meter_s": [0.0]}
    _time_calls(world.headend, ("handle",), parts["headend_s"])
    for meter in world.meters:
        _time_calls(meter, ("feed", "make_uplink", "accept_downlink"), parts["meter_s"])
    with crypto_timer() as spent:
        ledger = run_simulation(world, SimOptions(scenario, meters, days, seed=seed))
    ledger.crypto_s = spent[0]
    world.headend.close()
    wall = ledger.wall_s
    bare = bare_exchange_crypto_s()
    meter_days = meters * days
    rate = meter_days / wall if wall else 0.0
    out = ledger.as_json()
    return {
        "meters": meters,
        "days": days,
        "meter_days": meter_days,
        "resolution_minutes": 15,
        "feed_minutes": feed_minutes,
        "build_s": round(build_s, 3),
        "wall_s": round(wall, 3),
        "meter_days_per_s": round(rate, 2),
        "uplinks": out["uplinks"],
        "registrations": out["registrations"],
        "units_lost": out["units_lost"],
        "units_invented": out["units_invented"],
        "headend_ingest_s": round(parts["headend_s"][0], 3),
        "meter_s": round(parts["meter_s"][0], 3),
        "crypto_s": round(spent[0], 3),
        "crypto_share": round(spent[0] / wall, 4) if wall else 0.0,
        "bare_exchange_crypto_ms": round(bare * 1000, 4),
        "bare_crypto_share": round(bare * out["uplinks"] / wall, 4) if wall else 0.0,
        "projected_s_for_1000_meters_365_days": round(GOAL_METER_DAYS / rate, 1) if rate else None,
        "goal_s": GOAL_SECONDS,
    }
