"""Benchmark of the metering part: accuracy at IEC-style test points, and throughput.

`run()` returns one JSON-ready dict: the accuracy table of the signed (default) method and of
the seed's rectified variant, and the sample pairs processed per second by the measurement
chain beside a bare NumPy multiply-and-sum over the same arrays in the same run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from sealmeter.metering import (
    COMPILED_KERNEL,
    Codes,
    EnergyIntegrator,
    MeasurementChain,
    Method,
    Waveform,
    accuracy_table,
    fleet_interval_energy,
    warm_up_kernel,
)
from sealmeter.metering.accuracy import default_adc

__all__ = ["run"]


def _best_rates(
    works: dict[str, Callable[[], object]], items: int, repeats: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Items per CPU-second and per wall-second of each work's fastest of `repeats` runs.

    CPU time is the benchmarking thread's own (`time.thread_time`): the rate per core, with
    the time the scheduler gives other jobs on a shared machine left out (on a loaded machine
    a longer run is preempted more often than a shorter one, which biases wall-clock
    best-of figures toward the faster work). The works run interleaved (one of each per
    round), so a burst of load hits all of them alike; each is run once untimed first.
    """
    cpu = dict.fromkeys(works, float("inf"))
    wall = dict.fromkeys(works, float("inf"))
    for work in works.values():
        work()
    for _ in range(repeats):
        for name, work in works.items():
            start_wall, start_cpu = time.perf_counter(), time.thread_time()
            work()
            cpu[name] = min(cpu[name], time.thread_time() - start_cpu)
            wall[name] = min(wall[name], time.perf_counter() - start_wall)
    return (
        {name: items / max(seconds, 1e-9) for name, seconds in cpu.items()},
        {name: items / seconds for name, seconds in wall.items()},
    )


def _accuracy(method: Method, periods: int) -> dict[str, Any]:
    table = accuracy_table(method, periods=periods)
    return {
        "method": method.value,
        "points": [p.to_json() for p in table],
        "max_abs_error_pct": max(abs(p.error_pct) for p in table),
        "within_class_0_2s": all(abs(p.error_pct) <= p.limit_pct for p in table),
    }


def run(quick: bool = False) -> dict[str, Any]:
    """Run the metering benchmark; `quick` uses shorter runs (for tests and smoke checks)."""
    # Compile (or load from numba's on-disk cache) first, so JIT time is reported apart
    # and never counted in the throughput.
    compile_s = warm_up_kernel()
    adc = default_adc()
    periods = 50 if quick else 500
    signed = _accuracy(Method.SIGNED, periods)
    rectified = _accuracy(Method.RECTIFIED, periods)

    n = 1 << (18 if quick else 22)
    chunk = 1 << 16
    wave = Waveform.at_power_factor(0.8, "inductive", i_rms=5.0)
    codes = adc.sample(
        Waveform(
            u_rms=wave.u_rms,
            i_rms=wave.i_rms,
            lag_deg=wave.lag_deg,
            u_noise_rms=0.006,
            i_noise_rms=0.0003,
        ),
        n,
        rng=np.random.default_rng(0),
    )
    u, i = codes.u, codes.i
    spans = [(s, min(s + chunk, n)) for s in range(0, n, chunk)]
    repeats = 3 if quick else 15

    def chain_run() -> None:
        chain = MeasurementChain(adc)
        for a, b in spans:
            chain.feed_codes(Codes(u[a:b], i[a:b], codes.u_scale, codes.i_scale, adc.rate_hz))
        chain.finish()

    def integrator_run() -> None:
        integ = EnergyIntegrator(adc.rate_hz, codes.u_scale, codes.i_scale, hysteresis=655.0)
        for a, b in spans:
            integ.feed_trusted(u[a:b], i[a:b])
        integ.total()

    def numpy_bound() -> None:
        total = 0.0
        for a, b in spans:
            total += float(np.sum(u[a:b] * i[a:b]))

    rates, wall = _best_rates(
        {"bound": numpy_bound, "chain": chain_run, "integrator": integrator_run}, n, repeats
    )
    bound, chain_rate, integ_rate = rates["bound"], rates["chain"], rates["integrator"]

    meters = 20 if quick else 200
    start = time.perf_counter()
    fleet = fleet_interval_energy(meters, kind="synthetic", seed=1)
    fleet_s = time.perf_counter() - start
    return {
        "accuracy": {
            "adc": {
                "bits": adc.voltage.bits,
                "rate_hz": adc.rate_hz,
                "u_full_scale_v": adc.voltage.full_scale,
                "i_full_scale_a": adc.current.full_scale,
                "mux_skew_s": adc.mux_skew_s,
                "skew_corrected": True,
            },
            "periods_per_point": periods,
            **signed,
        },
        "accuracy_rectified": rectified,
        "max_abs_error_pct": signed["max_abs_error_pct"],
        "max_abs_error_pct_rectified": rectified["max_abs_error_pct"],
        "samples_per_s": chain_rate,
        "numpy_bound_samples_per_s": bound,
        "ratio_to_numpy_bound": chain_rate / bound,
        "integrator_only_samples_per_s": integ_rate,
        "integrator_only_ratio_to_numpy_bound": integ_rate / bound,
        "wall_clock": {
            "samples_per_s": wall["chain"],
            "numpy_bound_samples_per_s": wall["bound"],
            "ratio_to_numpy_bound": wall["chain"] / wall["bound"],
            "integrator_only_samples_per_s": wall["integrator"],
        },
        "throughput_setup": {
            "samples": n,
            "chunk": chunk,
            "chain": "16-bit codes, skew correction, per-half-period P, U^2, I^2, cross term",
            "numpy_bound": "float(np.sum(u * i)) per chunk over the same code arrays",
            "repeats_best_of": repeats,
            "timing": "thread CPU time (per core), best of each, runs interleaved, after one "
            "untimed warm-up run; wall_clock holds the same runs timed by the wall clock",
            "compiled_kernel": COMPILED_KERNEL,
            "kernel_warm_up_s": compile_s,
        },
        "fleet_meter_years_per_s": meters / fleet_s,
        "fleet_intervals": int(fleet.shape[1]),
    }
