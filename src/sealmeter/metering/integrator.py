"""Streaming energy integrator: products of voltage and current codes, summed per half-period.

This is the seed's measurement (Fig. 6): the instantaneous product u(t) * i(t) is summed over
every half-period T/2 of the mains (found from the voltage's zero crossings, with hysteresis)
and the sums are accumulated. Each half-period's sum is exact (integer codes carried in
float64 stay below 2**53), so the accumulated energy is the same bit for bit whatever the
chunking, and nothing is lost to rounding over any run. A half-period with a positive sum
counts as import, a negative one as export.

Per half-period the integrator also sums u**2 and i**2 (RMS, apparent energy S = U I) and a
quadrature term whose sign tells inductive from capacitive; reactive energy is the non-active
part sqrt(S**2 - P**2) of each half-period with that sign (exact for sinusoids; with
harmonics it also holds distortion power).

`Method.RECTIFIED` is the seed's literal variant: it multiplies |u| * |i| (full-wave rectified
transducer outputs). It is right at power factor 1 and wrong everywhere else; it exists to
measure how wrong (see docs/metering.md).

Two implementations give the same `Reading` bit for bit: a numba-compiled kernel
(`_kernel.integrate`, the default when numba is importable) and the NumPy code below (the
fallback: `use_kernel=False` or `SEALMETER_NUMBA=0`).
"""

from __future__ import annotations

import enum
import math
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from sealmeter.metering import _kernel
from sealmeter.metering.adc import SkewCorrector
from sealmeter.metering.errors import MeteringError, SignalError
from sealmeter.metering.reading import Reading

__all__ = ["CODE_LIMIT", "MAX_SEGMENT", "EnergyIntegrator", "Method"]

#: Largest magnitude of a code the integrator accepts (20-bit data, or 16-bit plus 4
#: fractional bits from skew correction).
CODE_LIMIT = 1 << 19
#: Longest half-period in samples; a longer one (no zero crossing, e.g. no voltage) is closed
#: there, so every per-segment sum stays below 2**53 and stays exact.
MAX_SEGMENT = 1 << 14
#: Largest piece handed to the compiled kernel in one call: its int64 totals of products
#: (each at most CODE_LIMIT**2 = 2**38) then stay below 2**61.
_KERNEL_PIECE = 1 << 22
#: cos(pi / length) per half-period length, shared by both paths so they agree bit for bit.
_COS = _kernel.cos_table()
_NO_HIST = np.zeros(3)  # filter arguments when no skew correction runs (unused by the kernel)
_NO_FIR = np.zeros(4)


class Method(enum.Enum):
    """How instantaneous power is formed from the two channels."""

    SIGNED = "signed"
    """u * i: the correct method (default)."""
    RECTIFIED = "rectified"
    """|u| * |i|: the seed's rectified transducer outputs; wrong at power factor below 1."""


class _Totals:
    """Exact integer sums of the closed half-periods, and the float per-segment quantities."""

    __slots__ = ("apparent", "exp", "half_periods", "ii", "imp", "reactive", "samples", "uu")

    def __init__(self) -> None:
        self.samples = 0
        self.imp = 0
        self.exp = 0
        self.uu = 0
        self.ii = 0
        self.apparent = 0.0
        self.reactive = 0.0
        self.half_periods = 0

    def copy(self) -> _Totals:
        other = _Totals()
        for name in self.__slots__:
            setattr(other, name, getattr(self, name))
        return other


class EnergyIntegrator:
    """Accumulate energy from voltage and current codes fed in chunks of any size.

    `u_scale` and `i_scale` are volts and amperes per code, `rate_hz` the sample rate.
    `hysteresis` (in voltage codes) is the band around zero the voltage must leave on the other
    side to start a new half-period, so noise near zero does not split half-periods.
    """

    def __init__(
        self,
        rate_hz: float,
        u_scale: float,
        i_scale: float,
        method: Method = Method.SIGNED,
        hysteresis: float = 0.0,
        use_kernel: bool | None = None,
    ) -> None:
        """Set up an empty integrator; see the class docstring for the arguments.

        `use_kernel` selects the compiled (numba) path or the NumPy path; None picks the
        compiled one when available. Both give the same `Reading` bit for bit.
        """
        for name, value in (("rate_hz", rate_hz), ("u_scale", u_scale), ("i_scale", i_scale)):
            if not (value > 0 and math.isfinite(value)):
                raise MeteringError(f"{name} must be a positive finite number, got {value}")
        if not (hysteresis >= 0 and math.isfinite(hysteresis)):
            raise MeteringError(f"hysteresis must be >= 0 codes, got {hysteresis}")
        self.rate_hz = float(rate_hz)
        self.u_scale = float(u_scale)
        self.i_scale = float(i_scale)
        self.method = Method(method)
        self._h = float(hysteresis)
        # Exact factor from code-product sums to watt-hours.
        self._wh = Fraction(u_scale) * Fraction(i_scale) / Fraction(rate_hz) / 3600
        self._kernel = _kernel.use_kernel(use_kernel)
        self._done = _Totals()
        self._mark = _Totals()
        # Kernel layout: int64 slots (sign, open start, ...) and p, uu, ii, q of the open
        # half-period followed by the last current code (for the cross term).
        self._st = np.zeros(_kernel.INT_SLOTS, np.int64)
        self._st[_kernel.RECTIFIED] = self.method is Method.RECTIFIED
        self._acc = np.zeros(5)
        self._fl = np.zeros(2)
        self._open = self._acc[:4]  # view: p, uu, ii, q of the open half-period
        self._open_start = 0  # absolute index of its first sample
        self._n = 0  # samples fed so far
        self._sign = 0  # voltage side: +1 above +h, -1 below -h, 0 not yet known
        self._above = False  # last sample was above +h (NumPy path)
        self._below = False  # last sample was below -h (NumPy path)
        self._buf = np.empty((4, 0))

    @property
    def compiled(self) -> bool:
        """True when this integrator runs the compiled (numba) kernel."""
        return self._kernel

    # -- feeding -----------------------------------------------------------------------------

    def feed(self, u: NDArray[np.generic], i: NDArray[np.generic]) -> None:
        """Add a chunk of voltage and current codes (integers, as ints or float64).

        Raises `SignalError` for mismatched or non-1-D arrays, non-finite or non-integral
        values, or codes beyond `CODE_LIMIT`.
        """
        if np.iscomplexobj(u) or np.iscomplexobj(i):
            raise SignalError("codes must be real numbers, got complex values")
        try:
            uf = np.asarray(u, dtype=np.float64)
            if_ = np.asarray(i, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise SignalError(f"codes must be numbers ({exc})") from exc
        if uf.ndim != 1 or if_.ndim != 1 or uf.shape != if_.shape:
            raise SignalError(
                f"voltage and current must be 1-D arrays of equal length, got shapes "
                f"{uf.shape} and {if_.shape}"
            )
        for name, arr in (("voltage", uf), ("current", if_)):
            if arr.size == 0:
                continue
            if not np.isfinite(arr).all():
                raise SignalError(f"{name} codes contain NaN or infinity; drop those samples")
            if np.abs(arr).max() > CODE_LIMIT:
                raise SignalError(
                    f"{name} codes exceed +-{CODE_LIMIT}; use a converter of at most 20 bits"
                )
            if not np.array_equal(arr, np.rint(arr)):
                raise SignalError(f"{name} codes must be integers (converter output)")
        self.feed_trusted(uf, if_)

    def feed_trusted(self, u: NDArray[np.float64], i: NDArray[np.float64]) -> None:
        """Add a chunk already known to be valid float64 integer codes (the fast path)."""
        n = u.size
        if n == 0:
            return
        if self._kernel:
            for a in range(0, n, _KERNEL_PIECE):
                b = min(a + _KERNEL_PIECE, n)
                self._feed_kernel(u[a:b], i[a:b], None)
        else:
            self._feed_numpy(u, i)

    def feed_skewed(
        self, u: NDArray[np.float64], i: NDArray[np.float64], corrector: SkewCorrector
    ) -> None:
        """Like `feed_trusted`, with raw current codes `i` realigned by `corrector` first.

        The compiled path applies the corrector's filter inside the integration loop (no
        intermediate array); the result is the same as `feed_trusted(u, corrector.process(i))`
        bit for bit, and the corrector's state advances the same way.
        """
        n = u.size
        if n == 0:
            return
        if not self._kernel:
            self._feed_numpy(u, corrector.process(i))
            return
        for a in range(0, n, _KERNEL_PIECE):
            b = min(a + _KERNEL_PIECE, n)
            self._feed_kernel(u[a:b], i[a:b], corrector)

    def _feed_kernel(
        self, u: NDArray[np.float64], i: NDArray[np.float64], corrector: SkewCorrector | None
    ) -> None:
        st, t = self._st, self._done
        if corrector is None:
            st[_kernel.SKEW] = 0
            hist, fir, inv = _NO_HIST, _NO_FIR, 1.0
        else:
            st[_kernel.SKEW] = 1
            hist, fir, inv = corrector.filter_state(float(i[0]))
        st[_kernel.SIGN] = self._sign
        st[_kernel.OPEN_START] = self._open_start
        st[_kernel.BASE] = self._n
        self._fl[0] = t.apparent
        self._fl[1] = t.reactive
        _kernel.integrate(
            np.ascontiguousarray(u, np.float64),
            np.ascontiguousarray(i, np.float64),
            self._h,
            _COS,
            st,
            self._acc,
            self._fl,
            hist,
            fir,
            inv,
        )
        imp, net, uu, ii, halves, samples = (int(x) for x in st[_kernel.IMP : _kernel.SAMPLES + 1])
        st[_kernel.IMP : _kernel.SAMPLES + 1] = 0
        t.imp += imp
        t.exp += imp - net
        t.uu += uu
        t.ii += ii
        t.half_periods += halves
        t.samples += samples
        t.apparent = float(self._fl[0])
        t.reactive = float(self._fl[1])
        self._sign = int(st[_kernel.SIGN])
        self._open_start = int(st[_kernel.OPEN_START])
        self._n += u.size

    def _feed_numpy(self, u: NDArray[np.float64], i: NDArray[np.float64]) -> None:
        n = u.size
        if self._buf.shape[1] < n:
            self._buf = np.empty((4, n))
        m = self._buf[:, :n]
        np.multiply(u, i, out=m[0])
        if self.method is Method.RECTIFIED:
            np.abs(m[0], out=m[0])
        np.multiply(u, u, out=m[1])
        np.multiply(i, i, out=m[2])
        # Cross term u[n] * i[n-1]: with P it gives the sign of reactive power.
        m[3, 0] = u[0] * self._acc[4]
        np.multiply(u[1:], i[:-1], out=m[3, 1:])
        self._acc[4] = i[-1]

        starts = self._boundaries(u)
        if starts.size == 0:
            self._open += m.sum(axis=1)
        else:
            head = m[:, : starts[0]].sum(axis=1) + self._open
            segs = np.add.reduceat(m, starts, axis=1)
            closed = np.concatenate([head[:, None], segs[:, :-1]], axis=1)
            lengths = np.diff(np.concatenate([[self._open_start], starts + self._n]))
            if lengths[0] == 0:  # a crossing on the first sample after take(): no empty one
                closed, lengths = closed[:, 1:], lengths[1:]
            if lengths.size:
                self._commit(closed, lengths)
            self._open[:] = segs[:, -1]
            self._open_start = self._n + int(starts[-1])
        self._n += n

    def _boundaries(self, u: NDArray[np.float64]) -> NDArray[np.intp]:
        """Local indices where a new half-period starts in this chunk (sorted, unique)."""
        n = u.size
        h = self._h
        above = u > h
        below = u < -h
        up = np.flatnonzero(above[1:] > above[:-1]) + 1
        down = np.flatnonzero(below[1:] > below[:-1]) + 1
        if above[0] and not self._above:
            up = np.concatenate([[0], up])
        if below[0] and not self._below:
            down = np.concatenate([[0], down])
        self._above, self._below = bool(above[-1]), bool(below[-1])
        events = np.concatenate([up, down])
        labels = np.concatenate([np.ones(up.size, np.int8), -np.ones(down.size, np.int8)])
        if events.size:
            order = np.argsort(events, kind="stable")
            events, labels = events[order], labels[order]
            previous = np.concatenate([[self._sign], labels[:-1]])
            change = (labels != previous) & (previous != 0)
            self._sign = int(labels[-1])
            crossings = events[change]
        else:
            crossings = events
        # Close half-periods that grew too long (no crossing), at fixed absolute positions.
        ends = np.concatenate([crossings, [n]]) + self._n
        starts_abs = np.concatenate([[self._open_start], crossings + self._n])
        long = np.flatnonzero(ends - starts_abs > MAX_SEGMENT)
        if long.size == 0:
            found: NDArray[np.intp] = crossings.astype(np.intp)
            return found
        forced = [
            np.arange(starts_abs[k] + MAX_SEGMENT, ends[k], MAX_SEGMENT) - self._n for k in long
        ]
        merged: NDArray[np.intp] = np.unique(np.concatenate([crossings, *forced])).astype(np.intp)
        return merged[merged >= 0]

    def _commit(self, closed: NDArray[np.float64], lengths: NDArray[np.int64]) -> None:
        """Add closed half-periods (columns of p, uu, ii, cross sums) to the exact totals."""
        p, uu, ii, cross = closed
        t = self._done
        t.samples += int(lengths.sum())
        t.half_periods += int(p.size)
        ints = closed[:3].astype(np.int64)  # exact: every sum is an integer below 2**53
        if int(np.abs(ints).max()) * ints.shape[1] < (1 << 62):
            imp = int(np.maximum(ints[0], 0).sum())
            net, sum_uu, sum_ii = (int(x) for x in ints.sum(axis=1))
        else:
            imp = _exact_sum(ints[0][ints[0] > 0])
            net, sum_uu, sum_ii = (_exact_sum(row) for row in ints)
        t.imp += imp
        t.exp += imp - net
        t.uu += sum_uu
        t.ii += sum_ii
        s2 = uu * ii
        s = np.sqrt(s2)
        x = np.sqrt(np.maximum(s2 - p * p, 0.0))
        # Sum of u[n] i[n-1] is P cos(phi + d) / cos(phi) for a phase step d = pi / length per
        # sample: below P cos(d) when the current lags (inductive, positive reactive).
        lead = cross > p * _COS[np.minimum(lengths, MAX_SEGMENT)]
        x[lead] *= -1.0
        # Sequential (cumulative) sums keep the float totals independent of chunking.
        s[0] += t.apparent
        x[0] += t.reactive
        t.apparent = float(np.cumsum(s)[-1])
        t.reactive = float(np.cumsum(x)[-1])

    # -- reading -----------------------------------------------------------------------------

    @property
    def samples(self) -> int:
        """Number of sample pairs fed so far."""
        return self._n

    def total(self) -> Reading:
        """Everything measured so far; the open half-period is counted as if it ended now."""
        return self._reading(self._with_open(), _Totals())

    def take(self) -> Reading:
        """Close the open half-period and return what was measured since the last `take`."""
        self._close_open()
        now = self._done.copy()
        reading = self._reading(now, self._mark)
        self._mark = now
        return reading

    def _close_open(self) -> None:
        length = self._n - self._open_start
        if length > 0:
            self._commit(self._open[:, None].copy(), np.array([length]))
        self._open[:] = 0.0
        self._open_start = self._n

    def _with_open(self) -> _Totals:
        saved = (self._done.copy(), self._open.copy(), self._open_start)
        self._close_open()
        result = self._done
        self._done, self._open_start = saved[0], saved[2]
        self._open[:] = saved[1]
        return result

    def _reading(self, now: _Totals, then: _Totals) -> Reading:
        n = now.samples - then.samples
        k = self.u_scale * self.i_scale / self.rate_hz / 3600.0
        uu, ii = now.uu - then.uu, now.ii - then.ii
        return Reading(
            samples=n,
            duration_s=n / self.rate_hz,
            active_import_wh=(now.imp - then.imp) * self._wh,
            active_export_wh=(now.exp - then.exp) * self._wh,
            reactive_varh=(now.reactive - then.reactive) * k,
            apparent_vah=(now.apparent - then.apparent) * k,
            u_rms_v=math.sqrt(uu / n) * self.u_scale if n else 0.0,
            i_rms_a=math.sqrt(ii / n) * self.i_scale if n else 0.0,
            half_periods=now.half_periods - then.half_periods,
        )


def _exact_sum(ints: NDArray[np.int64]) -> int:
    """Exact integer sum of int64 values (each below 2**53 in magnitude), without overflow."""
    if ints.size == 0:
        return 0
    block = max(1, (1 << 62) // (int(np.abs(ints).max()) + 1))
    if block >= ints.size:
        return int(ints.sum())
    return sum(int(ints[k : k + block].sum()) for k in range(0, ints.size, block))
