"""The compiled (numba) hot path against the NumPy path: the same readings, bit for bit."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealmeter.metering import (
    COMPILED_KERNEL,
    Adc,
    AdcChannel,
    Codes,
    EnergyIntegrator,
    MeasurementChain,
    MeteringError,
    Method,
    Reading,
    SkewCorrector,
    _kernel,
    integrator,
    warm_up_kernel,
)

pytestmark = pytest.mark.skipif(
    not COMPILED_KERNEL and os.environ.get("CI", "").lower() != "true",
    reason="numba is not importable or SEALMETER_NUMBA=0; the NumPy path is tested elsewhere",
)

RATE = 8000.0


def _signal(kind: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Voltage and current codes of one of several shapes (16-bit range)."""
    t = np.arange(n) / RATE
    if kind == "mains":
        u = 30000 * np.sin(2 * np.pi * 50.3 * t) + rng.normal(0, 3, n)
        i = 9000 * np.sin(2 * np.pi * 50.3 * t - rng.uniform(-1.5, 1.5)) + rng.normal(0, 3, n)
    elif kind == "noise":  # crossings everywhere, many tiny half-periods
        u = rng.normal(0, 700, n)
        i = rng.normal(0, 20000, n)
    elif kind == "dc":  # no crossing: half-periods closed at MAX_SEGMENT
        u = np.full(n, 12000.0) + rng.normal(0, 2, n)
        i = rng.normal(-300, 50, n)
    else:  # full-scale square waves: the largest sums
        u = np.where(np.sin(2 * np.pi * 60 * t) >= 0, 32767.0, -32768.0)
        i = np.where(np.sin(2 * np.pi * 60 * t - 0.4) >= 0, 32767.0, -32768.0)
    return np.clip(np.rint(u), -32768, 32767), np.clip(np.rint(i), -32768, 32767)


def _edges(n: int, cuts: list[int]) -> list[int]:
    return [0, *sorted(c % (n + 1) for c in cuts), n]


def _run(
    u: np.ndarray,
    i: np.ndarray,
    edges: list[int],
    takes: set[int],
    compiled: bool,
    method: Method,
    hysteresis: float,
) -> list[Reading]:
    integ = EnergyIntegrator(RATE, 0.0122, 0.00076, method, hysteresis, use_kernel=compiled)
    assert integ.compiled is compiled
    out = []
    for k in range(len(edges) - 1):
        integ.feed_trusted(u[edges[k] : edges[k + 1]], i[edges[k] : edges[k + 1]])
        if k in takes:
            out.append(integ.take())
        out.append(integ.total())
    out.append(integ.take())
    return out


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(["mains", "noise", "dc", "square"]),
    n=st.integers(1, 40_000),
    cuts=st.lists(st.integers(0, 40_000), max_size=12),
    takes=st.sets(st.integers(0, 12), max_size=4),
    method=st.sampled_from(list(Method)),
    hysteresis=st.sampled_from([0.0, 3.0, 655.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_compiled_integrator_equals_numpy_integrator_for_any_chunking(
    kind: str,
    n: int,
    cuts: list[int],
    takes: set[int],
    method: Method,
    hysteresis: float,
    seed: int,
) -> None:
    u, i = _signal(kind, n, np.random.default_rng(seed))
    edges = _edges(n, cuts)
    compiled = _run(u, i, edges, takes, True, method, hysteresis)
    numpy_path = _run(u, i, edges, takes, False, method, hysteresis)
    assert compiled == numpy_path
    # And chunking does not matter: one block gives the same final total.
    whole = EnergyIntegrator(RATE, 0.0122, 0.00076, method, hysteresis, use_kernel=True)
    whole.feed_trusted(u, i)
    if not takes:
        assert whole.total() == compiled[-2]


def _chain_readings(
    codes: Codes, adc: Adc, edges: list[int], compiled: bool, method: Method
) -> list[Reading]:
    chain = MeasurementChain(adc, method, use_kernel=compiled)
    out = []
    for a, b in itertools.pairwise(edges):
        chain.feed_codes(Codes(codes.u[a:b], codes.i[a:b], codes.u_scale, codes.i_scale, RATE))
        out.append(chain.total())
    out.append(chain.take())
    return out


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(["mains", "noise", "square"]),
    n=st.integers(1, 20_000),
    cuts=st.lists(st.integers(0, 20_000), max_size=10),
    tiny=st.booleans(),
    method=st.sampled_from(list(Method)),
    seed=st.integers(0, 2**32 - 1),
)
def test_compiled_chain_with_skew_correction_equals_numpy_chain(
    kind: str, n: int, cuts: list[int], tiny: bool, method: Method, seed: int
) -> None:
    """The FIR computed inside the integration loop (taps across chunk edges, chunks of 1..3
    samples) gives the codes `np.convolve` gives, so the readings are identical."""
    adc = Adc.multiplexed(AdcChannel(400.0), AdcChannel(25.0, gain_error=0.003), RATE)
    u, i = _signal(kind, n, np.random.default_rng(seed))
    codes = Codes(u, i, adc.voltage.scale, adc.current.scale, RATE)
    edges = _edges(n, cuts)
    if tiny:  # the first samples one, two and three at a time
        edges = sorted({*edges, *(e for e in (1, 3, 6) if e < n)})
    assert _chain_readings(codes, adc, edges, True, method) == _chain_readings(
        codes, adc, edges, False, method
    )


@settings(max_examples=40, deadline=None)
@given(
    skew=st.floats(0.0, 0.999),
    n=st.integers(1, 5000),
    cuts=st.lists(st.integers(0, 5000), max_size=8),
    seed=st.integers(0, 2**32 - 1),
)
def test_compiled_skew_filter_equals_convolution(
    skew: float, n: int, cuts: list[int], seed: int
) -> None:
    raw = np.rint(np.random.default_rng(seed).uniform(-(2**19), 2**19 - 1, n))
    fast, plain = SkewCorrector(skew, use_kernel=True), SkewCorrector(skew, use_kernel=False)
    edges = _edges(n, cuts)
    out = np.empty(n)
    for a, b in itertools.pairwise(edges):
        np.testing.assert_array_equal(fast.process(raw[a:b], out), plain.process(raw[a:b]))


def test_pieces_of_a_huge_chunk_are_stitched_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks beyond the kernel's piece size (kept for int64 headroom) are split invisibly."""
    u, i = _signal("mains", 30_000, np.random.default_rng(1))
    whole = EnergyIntegrator(RATE, 0.0122, 0.00076, hysteresis=655.0, use_kernel=True)
    whole.feed_trusted(u, i)
    monkeypatch.setattr(integrator, "_KERNEL_PIECE", 777)
    split = EnergyIntegrator(RATE, 0.0122, 0.00076, hysteresis=655.0, use_kernel=True)
    split.feed_trusted(u, i)
    assert split.total() == whole.total()


@pytest.mark.parametrize("compiled", [True, False])
def test_crossing_on_the_first_sample_after_take_opens_no_empty_half_period(
    compiled: bool,
) -> None:
    u = np.array([1000.0] * 10 + [-1000.0] * 10)
    i = np.full(20, 50.0)
    integ = EnergyIntegrator(RATE, 1.0, 1.0, use_kernel=compiled)
    integ.feed_trusted(u[:10], i[:10])
    first = integ.take()
    integ.feed_trusted(u[10:], i[10:])
    second = integ.take()
    assert (first.half_periods, first.samples) == (1, 10)
    assert (second.half_periods, second.samples) == (1, 10)
    assert second.active_export_wh > 0
    assert second.active_import_wh == 0


def test_forcing_the_kernel_without_numba_is_a_typed_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_kernel, "_numba", None)
    with pytest.raises(MeteringError, match="needs numba"):
        EnergyIntegrator(RATE, 1.0, 1.0, use_kernel=True)
    assert EnergyIntegrator(RATE, 1.0, 1.0, use_kernel=False).compiled is False


def test_environment_variable_selects_the_numpy_path() -> None:
    code = (
        "from sealmeter.metering import COMPILED_KERNEL, EnergyIntegrator;"
        "print(COMPILED_KERNEL, EnergyIntegrator(8000.0, 1.0, 1.0).compiled)"
    )
    env = {**os.environ, "SEALMETER_NUMBA": "0"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "False"]


def test_warm_up_compiles_or_loads_every_kernel() -> None:
    assert warm_up_kernel() >= 0.0
    assert warm_up_kernel() < 1.0  # the second time everything is already compiled
