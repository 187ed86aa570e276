"""Compiled hot path of the measurement chain (numba), with the switch that selects it.

Two kernels, each the exact twin of a NumPy path kept as the fallback:

- `skew_filter`: the skew corrector's 4-tap fixed-point FIR with rounding, one vectorised
  pass (twin of `np.convolve` + `np.rint` in `SkewCorrector`).
- `integrate`: one call per chunk does the whole chain step: the hysteresis zero-crossing
  search (a branchy scan, 16 samples tested branch-free at a time), the four per-half-period
  sums (u*i, u*u, i*i and the cross term u[n]*i[n-1]) in a branch-free SIMD loop per
  half-period, optionally with the skew FIR computed inside that loop from the raw current
  codes (no intermediate array), and, for every half-period it closes, the exact integer
  totals and the float apparent/reactive terms (twin of `SkewCorrector.process` followed by
  the reduceat-based `EnergyIntegrator` path).

Exactness makes the two paths agree bit for bit: every per-half-period sum is an integer below
2**53, so float64 sums in any order (SIMD lanes, `reassoc`) are exact; the FIR's products and
sums are integers below 2**53 too; the per-half-period float terms (sqrt, comparisons) use the
same IEEE operations in the same order in both paths, with cos() taken from one shared table.

numba is used when importable unless the environment variable `SEALMETER_NUMBA` is `0`; each
class also takes `use_kernel=` to force either path (the tests compare them).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

from sealmeter.metering.errors import MeteringError

__all__ = [
    "AVAILABLE",
    "INT_SLOTS",
    "cos_table",
    "integrate",
    "skew_filter",
    "use_kernel",
    "warm_up",
]

F = TypeVar("F", bound=Callable[..., Any])

#: Longest half-period in samples (see integrator.MAX_SEGMENT; duplicated to avoid a cycle).
_MAX_SEGMENT = 1 << 14
#: Layout of the integer state/result array passed to `integrate`.
INT_SLOTS = 11
(
    SIGN,  # voltage side: +1 above +h, -1 below -h, 0 not yet known
    OPEN_START,  # absolute index of the open half-period's first sample
    BASE,  # absolute index of this chunk's first sample
    IMP,  # out: sum of positive closed half-period P sums (int64)
    NET,  # out: sum of all closed P sums
    UU,  # out: sum of closed u*u sums
    II,  # out: sum of closed i*i sums
    HALF_PERIODS,  # out: closed half-periods
    SAMPLES,  # out: samples in closed half-periods
    RECTIFIED,  # in: 1 for |u*i|
    SKEW,  # in: 1 to run the skew corrector's FIR on the raw current codes first
) = range(INT_SLOTS)

_numba: Any
try:  # pragma: no branch - depends on the environment
    import numba as _numba
except ImportError:  # pragma: no cover - numba is a declared dependency
    _numba = None


def _enabled() -> bool:
    return _numba is not None and os.environ.get("SEALMETER_NUMBA", "1") != "0"


#: True when the compiled kernels are importable and not disabled by `SEALMETER_NUMBA=0`.
AVAILABLE = _enabled()


def use_kernel(requested: bool | None) -> bool:
    """Resolve a `use_kernel=` argument: None means `AVAILABLE`; True needs numba."""
    if requested is None:
        return AVAILABLE
    if requested and _numba is None:
        raise MeteringError("use_kernel=True needs numba; install it or pass use_kernel=False")
    return requested


def _jit(fastmath: bool = False) -> Callable[[F], F]:
    """numba's njit (cached, releasing the GIL), or the identity without numba."""

    def wrap(fn: F) -> F:
        if _numba is None:  # pragma: no cover
            return fn
        flags: Any = {"reassoc", "contract"} if fastmath else False
        return cast(F, _numba.njit(cache=True, nogil=True, fastmath=flags)(fn))

    return wrap


def cos_table() -> NDArray[np.float64]:
    """cos(pi / max(length, 2)) for every half-period length 0..MAX_SEGMENT (shared by paths)."""
    lengths = np.maximum(np.arange(_MAX_SEGMENT + 1), 2)
    table: NDArray[np.float64] = np.cos(np.pi / lengths)
    return table


@_jit()
def skew_filter(
    i: NDArray[np.float64],
    hist: NDArray[np.float64],
    kernel: NDArray[np.float64],
    inv: float,
    out: NDArray[np.float64],
) -> None:
    """rint((k0*i[n-3] + k1*i[n-2] + k2*i[n-1] + k3*i[n]) * inv) into `out`; `hist` holds the
    three samples before `i` and is updated to the last three of `i` (`i.size` >= 1)."""
    n = i.size
    k0, k1, k2, k3 = kernel[0], kernel[1], kernel[2], kernel[3]
    a, b, c = hist[0], hist[1], hist[2]
    head = min(3, n)
    for j in range(head):  # samples whose taps reach into the history
        x = i[j]
        out[j] = np.rint((k0 * a + k1 * b + k2 * c + k3 * x) * inv)
        a, b, c = b, c, x
    m = n - 3
    if m > 0:  # slices with non-negative offsets let LLVM vectorise the loop
        s0 = i[0:m]
        s1 = i[1 : m + 1]
        s2 = i[2 : m + 2]
        s3 = i[3 : m + 3]
        o = out[3 : m + 3]
        for j in range(m):
            o[j] = np.rint((k0 * s0[j] + k1 * s1[j] + k2 * s2[j] + k3 * s3[j]) * inv)
    if n >= 3:
        hist[0], hist[1], hist[2] = i[n - 3], i[n - 2], i[n - 1]
    else:
        hist[0], hist[1], hist[2] = a, b, c


@_jit()
def _current(
    r: NDArray[np.float64],
    j: int,
    skew: bool,
    hist: NDArray[np.float64],
    fir: NDArray[np.float64],
    inv: float,
) -> float:
    """Current code at sample j: raw, or skew-corrected (j < 3 reaches into `hist`)."""
    if not skew:
        raw: float = r[j]
        return raw
    a = r[j - 3] if j >= 3 else hist[j]
    b = r[j - 2] if j >= 2 else hist[j + 1]
    c = r[j - 1] if j >= 1 else hist[2]
    out: float = np.rint((fir[0] * a + fir[1] * b + fir[2] * c + fir[3] * r[j]) * inv)
    return out


@_jit()
def _sums_head(
    u: NDArray[np.float64],
    r: NDArray[np.float64],
    a: int,
    b: int,
    prev: float,
    rectified: bool,
    acc: NDArray[np.float64],
    skew: bool,
    hist: NDArray[np.float64],
    fir: NDArray[np.float64],
    inv: float,
) -> None:
    """Scalar sums over the few samples [a, b) at a chunk's start (b <= 4); `prev` is the
    current code before sample 0."""
    c_prev = prev if a == 0 else _current(r, a - 1, skew, hist, fir, inv)
    for j in range(a, b):
        x = u[j]
        y = _current(r, j, skew, hist, fir, inv)
        acc[0] += abs(x * y) if rectified else x * y
        acc[1] += x * x
        acc[2] += y * y
        acc[3] += x * c_prev
        c_prev = y


# The four sum loops below are spelled out one per (skew, method) case on purpose: a runtime
# flag inside the loop (or one function holding both loops) keeps LLVM from vectorising the
# caller's inlined copy well, which halved the throughput.


@_jit(fastmath=True)
def _sums_signed(
    u: NDArray[np.float64], i: NDArray[np.float64], a: int, b: int, acc: NDArray[np.float64]
) -> None:
    """Add sum u*i, u*u, i*i and u[k]*i[k-1] over [a, b) to acc[0:4] (a >= 1).

    Every partial sum is an integer below 2**53, so reassociation (SIMD lanes) is exact. One
    fused loop over slices (no negative offsets, no branch before it) vectorises best.
    """
    us = u[a:b]
    is_ = i[a:b]
    ip = i[a - 1 : b - 1]
    p = 0.0
    uu = 0.0
    ii = 0.0
    q = 0.0
    for j in range(b - a):
        x = us[j]
        y = is_[j]
        p += x * y
        uu += x * x
        ii += y * y
        q += x * ip[j]
    acc[0] += p
    acc[1] += uu
    acc[2] += ii
    acc[3] += q


@_jit(fastmath=True)
def _sums_rectified(
    u: NDArray[np.float64], i: NDArray[np.float64], a: int, b: int, acc: NDArray[np.float64]
) -> None:
    """`_sums_signed` with |u*i| for the seed's rectified method."""
    us = u[a:b]
    is_ = i[a:b]
    ip = i[a - 1 : b - 1]
    p = 0.0
    uu = 0.0
    ii = 0.0
    q = 0.0
    for j in range(b - a):
        x = us[j]
        y = is_[j]
        p += abs(x * y)
        uu += x * x
        ii += y * y
        q += x * ip[j]
    acc[0] += p
    acc[1] += uu
    acc[2] += ii
    acc[3] += q


@_jit(fastmath=True)
def _sums_skew_signed(
    u: NDArray[np.float64],
    r: NDArray[np.float64],
    a: int,
    b: int,
    acc: NDArray[np.float64],
    fir: NDArray[np.float64],
    inv: float,
) -> None:
    """`_sums_signed` over skew-corrected current computed on the fly from raw codes (a >= 4).

    The corrected code (the same rint of the same exact integer sum as `skew_filter`) is
    computed for n and n-1 in the vector loop instead of being stored and read back.
    """
    k0, k1, k2, k3 = fir[0], fir[1], fir[2], fir[3]
    us = u[a:b]
    r4 = r[a - 4 : b - 4]
    r3 = r[a - 3 : b - 3]
    r2 = r[a - 2 : b - 2]
    r1 = r[a - 1 : b - 1]
    r0 = r[a:b]
    p = 0.0
    uu = 0.0
    ii = 0.0
    q = 0.0
    for j in range(b - a):
        x = us[j]
        y = np.rint((k0 * r3[j] + k1 * r2[j] + k2 * r1[j] + k3 * r0[j]) * inv)
        yp = np.rint((k0 * r4[j] + k1 * r3[j] + k2 * r2[j] + k3 * r1[j]) * inv)
        p += x * y
        uu += x * x
        ii += y * y
        q += x * yp
    acc[0] += p
    acc[1] += uu
    acc[2] += ii
    acc[3] += q


@_jit(fastmath=True)
def _sums_skew_rectified(
    u: NDArray[np.float64],
    r: NDArray[np.float64],
    a: int,
    b: int,
    acc: NDArray[np.float64],
    fir: NDArray[np.float64],
    inv: float,
) -> None:
    """`_sums_skew_signed` with |u*i| for the seed's rectified method."""
    k0, k1, k2, k3 = fir[0], fir[1], fir[2], fir[3]
    us = u[a:b]
    r4 = r[a - 4 : b - 4]
    r3 = r[a - 3 : b - 3]
    r2 = r[a - 2 : b - 2]
    r1 = r[a - 1 : b - 1]
    r0 = r[a:b]
    p = 0.0
    uu = 0.0
    ii = 0.0
    q = 0.0
    for j in range(b - a):
        x = us[j]
        y = np.rint((k0 * r3[j] + k1 * r2[j] + k2 * r1[j] + k3 * r0[j]) * inv)
        yp = np.rint((k0 * r4[j] + k1 * r3[j] + k2 * r2[j] + k3 * r1[j]) * inv)
        p += abs(x * y)
        uu += x * x
        ii += y * y
        q += x * yp
    acc[0] += p
    acc[1] += uu
    acc[2] += ii
    acc[3] += q


@_jit()
def _scan(u: NDArray[np.float64], pos: int, limit: int, sign: int, h: float) -> int:
    """First k in [pos, limit) where the voltage's next event happens, else `limit`.

    sign 0: |u| > h (first side known); +1: u < -h (crossing down); -1: u > h (crossing up).
    With a crossing sought, blocks of 16 are tested branch-free (vectorised) first.
    """
    k = pos
    if sign == 0:
        while k < limit:
            if u[k] > h or u[k] < -h:
                return k
            k += 1
        return limit
    s = 1.0 if sign > 0 else -1.0  # the event is s * u < -h
    while k + 16 <= limit:
        block = u[k : k + 16]
        hit = False
        for j in range(16):
            hit |= s * block[j] < -h
        if hit:
            break
        k += 16
    while k < limit:
        if s * u[k] < -h:
            return k
        k += 1
    return limit


#: Closed half-periods buffered before their float terms are committed in one batch.
_BATCH = 1024


@_jit()
def _commit(
    seg: NDArray[np.float64],
    count: int,
    cos: NDArray[np.float64],
    st: NDArray[np.int64],
    fl: NDArray[np.float64],
) -> None:
    """Commit `count` closed half-periods (rows p, uu, ii, q, length of `seg`).

    Integer totals go to `st`; apparent S = sqrt(uu * ii) and signed reactive
    sqrt(max(S**2 - p**2, 0)) are computed per half-period in a vectorisable loop, then added
    to `fl` one after another in order (the NumPy path's cumsum order).
    """
    p = seg[0, :count]
    uu = seg[1, :count]
    ii = seg[2, :count]
    q = seg[3, :count]
    length = seg[4, :count]
    s = np.empty(count)
    x = np.empty(count)
    imp = np.int64(0)
    net = np.int64(0)
    suu = np.int64(0)
    sii = np.int64(0)
    samples = np.int64(0)
    for k in range(count):
        pk = np.int64(p[k])
        if pk > 0:
            imp += pk
        net += pk
        suu += np.int64(uu[k])
        sii += np.int64(ii[k])
        samples += np.int64(length[k])
    for k in range(count):
        s2 = uu[k] * ii[k]
        s[k] = np.sqrt(s2)
        xk = np.sqrt(max(s2 - p[k] * p[k], 0.0))
        lead = q[k] > p[k] * cos[min(int(length[k]), _MAX_SEGMENT)]
        x[k] = -xk if lead else xk
    apparent = fl[0]
    reactive = fl[1]
    for k in range(count):
        apparent += s[k]
        reactive += x[k]
    fl[0] = apparent
    fl[1] = reactive
    st[IMP] += imp
    st[NET] += net
    st[UU] += suu
    st[II] += sii
    st[HALF_PERIODS] += count
    st[SAMPLES] += samples


@_jit()
def integrate(
    u: NDArray[np.float64],
    i: NDArray[np.float64],
    h: float,
    cos: NDArray[np.float64],
    st: NDArray[np.int64],
    acc: NDArray[np.float64],
    fl: NDArray[np.float64],
    hist: NDArray[np.float64],
    fir: NDArray[np.float64],
    inv: float,
) -> None:
    """Integrate one chunk (u.size >= 1): find half-periods, sum them, commit closed ones.

    `st` is the int64 state/result array (slots above), `acc` the open half-period's sums
    p, uu, ii, q followed by the previous (corrected) current code, `fl` the running apparent
    and reactive totals (added to sequentially, one closed half-period at a time). With the
    SKEW slot set, `i` holds raw current codes and the skew corrector's FIR (`fir`, `inv`,
    the three raw codes before the chunk in `hist`, updated here) is applied on the fly.
    """
    n = u.size
    base = st[BASE]
    sign = st[SIGN]
    open_start = st[OPEN_START]
    rectified = st[RECTIFIED] != 0
    skew = st[SKEW] != 0
    head = 4 if skew else 1  # vector loops start here (their taps stay inside the chunk)
    seg = np.empty((5, _BATCH))
    count = 0
    pos = 0
    while pos < n:
        limit = min(n, open_start + _MAX_SEGMENT - base)
        k = _scan(u, pos, limit, sign, h)
        end = k
        if sign == 0 and k < limit:
            # First side of zero found: not a half-period boundary.
            sign = 1 if u[k] > h else -1
            end = k + 1
        start = pos
        if start < head:  # the chunk's first samples (their taps need the history)
            start = min(end, head)
            _sums_head(u, i, pos, start, acc[4], rectified, acc, skew, hist, fir, inv)
        if end > start:
            if skew:
                if rectified:
                    _sums_skew_rectified(u, i, start, end, acc, fir, inv)
                else:
                    _sums_skew_signed(u, i, start, end, acc, fir, inv)
            elif rectified:
                _sums_rectified(u, i, start, end, acc)
            else:
                _sums_signed(u, i, start, end, acc)
        if end > k:
            pos = end
            continue
        if k < n:  # a crossing at k (k < limit) or a forced close at k == limit
            if k < limit:
                sign = -sign
            length = k + base - open_start
            if length > 0:  # (a crossing right after take() opens no empty half-period)
                for r in range(4):
                    seg[r, count] = acc[r]
                    acc[r] = 0.0
                seg[4, count] = length
                count += 1
                if count == _BATCH:
                    _commit(seg, count, cos, st, fl)
                    count = 0
                open_start = k + base
        pos = k
    if count:
        _commit(seg, count, cos, st, fl)
    if skew:
        acc[4] = _current(i, n - 1, True, hist, fir, inv)
        if n >= 3:
            hist[0], hist[1], hist[2] = i[n - 3], i[n - 2], i[n - 1]
        elif n == 2:
            hist[0], hist[1], hist[2] = hist[2], i[0], i[1]
        else:
            hist[0], hist[1], hist[2] = hist[1], hist[2], i[0]
    else:
        acc[4] = i[n - 1]
    st[SIGN] = sign
    st[OPEN_START] = open_start


def warm_up() -> float:
    """Compile (or load from numba's cache) every kernel; return the seconds it took.

    Does nothing (0.0) when the kernels are not in use (no numba, or `SEALMETER_NUMBA=0`).
    """
    if not AVAILABLE:
        return 0.0
    start = time.perf_counter()
    u = np.array([0.0, 5.0, -5.0, 5.0, 1.0])
    out = np.empty_like(u)
    skew_filter(u, np.zeros(3), np.ones(4), 0.25, out)
    st = np.zeros(INT_SLOTS, np.int64)
    integrate(u, u, 1.0, cos_table(), st, np.zeros(5), np.zeros(2), np.zeros(3), out[:4], 0.5)
    st[SKEW] = 1
    integrate(u, u, 1.0, cos_table(), st, np.zeros(5), np.zeros(2), np.zeros(3), out[:4], 0.5)
    return time.perf_counter() - start
