"""Feeding energy into the module: intervals, a day of intervals at once, the checkpoint.

`EnergyFeed` is the module's transducer side: energy spread over an interval is journaled to
the µWh, then counted in whole units (write-ahead), with time passed up to every boundary on
the way. `feed_intervals` is the fleet simulator's hot path: a quiet stretch of intervals
(nothing due inside it) is taken in one step, the same to the µWh as feeding them one by one.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from sealmeter.clock import ensure_utc
from sealmeter.errors import UsageError
from sealmeter.meter._core import MICRO, UWH_PER_WH, MeterCore
from sealmeter.meter.credit import RelayState
from sealmeter.meter.power import PowerState
from sealmeter.meter.state import Journal, decode, encode
from sealmeter.metering import Energy, MeteringError, exact_energy
from sealmeter.protocol import RegistrationKind

__all__ = ["EnergyFeed", "power_of"]


def power_of(energy_mwh: int, span_us: int) -> int:
    """Mean power in W of `energy_mwh` over `span_us` µs, rounded half to even (exactly as
    `round(Fraction(...))` in `Meter.feed_interval`)."""
    q, r = divmod(energy_mwh * 3_600_000, span_us)
    if 2 * r > span_us or (2 * r == span_us and q % 2):
        q += 1
    return q


class EnergyFeed(MeterCore):
    """`Meter`'s operations that feed consumption (see the module docstring)."""

    # ------------------------------------------------------------------ energy
    def feed_interval(self, start: datetime, end: datetime, energy_wh: Energy) -> float:
        """Consumption of `energy_wh` spread evenly over [start, end); returns the Wh delivered.

        While the relay is open or mains is off nothing flows (0 is returned for that part).
        Intervals must not overlap what was already fed; gaps are fine (no consumption).
        Energy is taken exactly (`Fraction`, `Decimal`, int or float), journaled to the µWh.
        """
        start, end = ensure_utc(start), ensure_utc(end)
        if end <= start:
            raise UsageError(f"interval end {end.isoformat()} is not after its start")
        try:
            exact = exact_energy(energy_wh)
        except MeteringError as exc:
            raise UsageError(str(exc)) from None
        if exact < 0:
            raise UsageError(f"energy {energy_wh} Wh is negative; feed consumption only")
        self._check_not_fed(start)
        span = (end - start) // MICRO
        total_uwh = round(exact * UWH_PER_WH)
        power_w = round(exact * 3600 / Fraction(span, 10**6))
        delivered = self._feed_span(start, end, span, total_uwh, power_w)
        return delivered / UWH_PER_WH

    def feed_intervals(self, start: datetime, interval: timedelta, energy_mwh: list[int]) -> int:
        """Consecutive intervals of `interval` from `start`, energy per interval in whole mWh;
        returns the µWh delivered. The fleet simulator's path: a day in one call.

        The same as one `feed_interval` per interval (the same registrations, charges, relay
        moves and peak, to the µWh), except that the journal and the counter are committed
        once per stretch between registrations and at the end instead of after every interval:
        before any other record is written, and before this call returns, the energy fed so
        far is journaled and counted (write-ahead, as always). A power cut inside the call
        loses at most the uncommitted energy of this call, never a counted unit, and invents
        none (the boot completes the counter to the journal, see `_recover`). Intervals with
        no energy are skipped (time still passes at the next interval with energy).
        """
        start = ensure_utc(start)
        span = interval // MICRO
        if span <= 0:
            raise UsageError(f"interval {interval} must be positive")
        self._check_not_fed(start)
        for e in energy_mwh:
            if type(e) is not int or e < 0:
                raise UsageError(f"interval energy {e!r} must be a whole, non-negative mWh")
        delivered = 0
        n = len(energy_mwh)
        self._lazy = True
        try:
            k = 0
            while k < n:
                if not energy_mwh[k]:
                    k += 1
                    continue
                a = start + interval * k
                fit = self._quiet_stretch(a, interval, n - k)
                if fit > 1:
                    got = self._feed_stretch(a, interval, span, energy_mwh[k : k + fit])
                    if got is not None:
                        delivered += got
                        k += fit
                        continue
                e = energy_mwh[k]
                power_w = power_of(e, span)
                delivered += self._feed_span(a, a + interval, span, e * 1000, power_w)
                k += 1
        finally:
            self._lazy = False
        self._flush()
        return delivered

    def _check_not_fed(self, start: datetime) -> None:
        """Refuse an interval starting before the end of what was already fed."""
        fed = self._journal.fed_until
        if fed is not None and start < fed:
            raise UsageError(
                f"interval starting {start.isoformat()} overlaps energy already fed up to "
                f"{fed.isoformat()}; feed consecutive intervals"
            )

    def _quiet_stretch(self, start: datetime, interval: timedelta, most: int) -> int:
        """How many whole intervals from `start` (at most `most`) end before or at the next
        instant something is due, while energy flows at a monotone price with no load-step
        watch; 0 when such a stretch cannot be taken at once."""
        self.advance_to(start)
        control = self._control
        if (
            self.config.load_step_w is not None
            or control.relay is not RelayState.SUPPLYING
            or control.power.state is not PowerState.MAINS
            or self._chain_rec is None
            or not self._segment_rate().monotone
        ):
            return 0
        stop = self._next_boundary(start, start + interval * most)
        return min(most, (stop - start) // interval)

    def _feed_stretch(
        self, start: datetime, interval: timedelta, span: int, energy_mwh: list[int]
    ) -> int | None:
        """Feed a quiet stretch (see `_quiet_stretch`) at once; None if the charge limit of
        the credit frame would be passed inside it (then it is fed interval by interval).

        Nothing is due inside the stretch, so what `feed_interval` would do per interval
        reduces to: add the energy, keep the first peak and the last interval's power, and
        check the credit frame at its end (a charge that only grows is below the limit
        inside the stretch when it is below it at the end)."""
        record = self._chain_rec
        assert record is not None
        j = self._journal
        total_mwh = sum(energy_mwh)
        energy = j.energy_uwh + total_mwh * 1000
        target = energy // (self.config.unit_wh * UWH_PER_WH)
        limit = self._control.grant.frame.charge_limit
        charge: Decimal | None = None
        if limit is not None:
            charge = self._open_segment(self._segment_rate(), target)[1]
            if self._queued_charge + charge > limit:
                return None
        peak_w, peak_at = j.peak_w, j.peak_at
        top_w = power_of(max(energy_mwh), span)
        if top_w > peak_w:
            # the first interval reaching that power (two energies may round to the same W)
            first = next(k for k, e in enumerate(energy_mwh) if power_of(e, span) == top_w)
            peak_w, peak_at = top_w, start + interval * first
        last = len(energy_mwh) - 1
        while not energy_mwh[last]:
            last -= 1
        end = start + interval * (last + 1)
        self._journal = Journal(
            energy, target, end, peak_w, peak_at, power_of(energy_mwh[last], span)
        )
        self._dirty = True
        if charge is not None:  # the open segment's charge at `target`, for `_check_credit`
            self._owed_cache = (target, record, self._schedules, charge)
        self._on_time(end)
        return total_mwh * 1000

    def _feed_span(
        self, start: datetime, end: datetime, span: int, total_uwh: int, power_w: int
    ) -> int:
        """`total_uwh` spread evenly over [start, end) of `span` µs; returns µWh delivered."""
        self.advance_to(start)
        step = self.config.load_step_w
        if (
            step is not None
            and abs(power_w - self._journal.last_load_w) > step
            and self._chain_rec is not None
            and start > self._chain_rec.last_time
        ):
            self._register(RegistrationKind.EVENT, start)
        # Piece by piece up to the next boundary, found afresh after each one (a registration
        # at a boundary starts a segment with boundaries of its own).
        delivered = given = 0
        cursor = start
        while cursor < end:
            nxt = self._next_boundary(cursor, end)
            upto = total_uwh if nxt == end else total_uwh * ((nxt - start) // MICRO) // span
            share, given = upto - given, upto
            flowing = (
                self._control.relay is RelayState.SUPPLYING
                and self._control.power.state is PowerState.MAINS
            )
            if flowing and share > 0:
                self._account(share, cursor, nxt, power_w)
                delivered += share
            self._on_time(nxt)
            cursor = nxt
        if self._journal.fed_until != end:
            self._journal = replace(self._journal, fed_until=end)
        return delivered

    def checkpoint(self) -> None:
        """Persist the meter's time (the end of what was fed) if only RAM knows it yet.

        Intervals with no flow (blocked, no mains, no load) are not journaled, to spare the
        memory; call this at the end of a feed so the next boot resumes from its end.
        """
        self._flush()
        stored = self._memory.records.read("journal")
        if stored is None or decode(Journal, stored) != self._journal:
            self._memory.records.write("journal", encode(self._journal))

    def _account(self, energy_uwh: int, start: datetime, end: datetime, power_w: int) -> None:
        """Journal the energy, then count its whole units (write-ahead; see `_recover`)."""
        j = self._journal
        energy = j.energy_uwh + energy_uwh
        # whole units of the total, exactly (the remainder stays in the journal's energy)
        target = energy // (self.config.unit_wh * UWH_PER_WH)
        peak_w, peak_at = j.peak_w, j.peak_at
        if power_w > peak_w:
            peak_w, peak_at = power_w, start
        self._journal = Journal(energy, target, end, peak_w, peak_at, power_w)
        self._dirty = True
        if not self._lazy:
            self._flush()
