"""The module's sensors: housing switches, seal loop, bypass currents and mains voltage.

`Sensors` runs the tamper state machines on what the sensors report, keeps the latest
detections for the status message, and closes the open segment with an event registration
when mains is lost or returns.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace
from datetime import datetime

from sealmeter.clock import ensure_utc
from sealmeter.meter._core import MeterCore
from sealmeter.meter.state import ControlState
from sealmeter.meter.tamper import (
    Detection,
    DetectionKind,
    HousingEvent,
    HousingState,
    LoopEvent,
    LoopState,
    SealLoop,
    housing_after,
    loop_after,
)
from sealmeter.protocol import RegistrationKind

__all__ = ["MAX_DETECTIONS", "Sensors"]

MAX_DETECTIONS = 32
"""Detections kept for the status message, the newest last."""


class Sensors(MeterCore):
    """`Meter`'s operations on what its sensors report (see the module docstring)."""

    # ------------------------------------------------------------------ sensors
    def _detect(self, found: list[Detection], control: ControlState) -> ControlState:
        """`control` with the detections `found` added (the newest `MAX_DETECTIONS` kept)."""
        if not found:
            return control
        detections = (*control.detections, *found)[-MAX_DETECTIONS:]
        unreported = min(control.unreported + len(found), len(detections))
        return replace(control, detections=detections, unreported=unreported)

    def housing_opened(self, now: datetime) -> Detection | None:
        """S1 reports the housing opened (latched unless under an authorised inspection)."""
        now = ensure_utc(now)
        c = self._control
        housing = housing_after(c.housing, HousingEvent.S1_OPENED)
        found = (
            [Detection(DetectionKind.HOUSING_OPENED, now)]
            if c.housing is HousingState.SEALED and housing is HousingState.TAMPERED
            else []
        )
        self._set_control(
            self._detect(found, replace(c, housing=housing, power=c.power.housing_opened()))
        )
        return found[0] if found else None

    def inspection_key(self, now: datetime) -> None:
        """The inspector's key turned S2: an authorised opening begins (reported, not latched)."""
        now = ensure_utc(now)
        c = self._control
        housing = housing_after(c.housing, HousingEvent.S2_KEY)
        found = [] if housing is c.housing else [Detection(DetectionKind.AUTHORISED_OPENING, now)]
        self._set_control(self._detect(found, replace(c, housing=housing)))

    def check_seal_loop(self, now: datetime, loop: SealLoop) -> Detection | None:
        """Send a time-allocated pulse pattern round the seal loop and check what comes back."""
        now = ensure_utc(now)
        pattern = hmac.new(
            self._device_key, b"seal-loop" + now.isoformat().encode(), hashlib.sha256
        ).digest()[:8]
        echoed = loop.echo(pattern)
        ok = echoed is not None and hmac.compare_digest(echoed, pattern)
        c = self._control
        state = loop_after(c.loop, LoopEvent.PULSE_OK if ok else LoopEvent.PULSE_LOST)
        if state is c.loop:
            return None
        found = (
            Detection(DetectionKind.SEAL_LOOP_BROKEN, now) if state is LoopState.BROKEN else None
        )
        self._set_control(self._detect([found] if found else [], replace(c, loop=state)))
        return found

    def observe_currents(self, now: datetime, supply_a: float, load_a: float) -> Detection | None:
        """One reading of the supply-side and load-side currents for the bypass detector."""
        now = ensure_utc(now)
        c = self._control
        bypass, found = c.bypass.observe(self.config.bypass, now, supply_a, load_a)
        if bypass != c.bypass:
            self._set_control(self._detect([found] if found else [], replace(c, bypass=bypass)))
        return found

    def _event_registration(self, now: datetime) -> None:
        """Close the open segment at `now` as an event (time passed up to it first)."""
        if self._chain_rec is None:
            return
        self.advance_to(now)
        if now > self._chain_rec.last_time:
            self._register(RegistrationKind.EVENT, now)

    def mains_lost(self, now: datetime) -> None:
        """The voltage watchdog saw mains drop: run on battery, store the instant.

        An event registration closes the segment at the loss; another one at the return
        closes the gap, so both instants are in the authenticated chain as well as in the
        status message's detection (which carries the start and the kind).
        """
        now = ensure_utc(now)
        self._event_registration(now)
        c = self._control
        self._set_control(replace(c, power=c.power.mains_lost(now)))

    def mains_returned(self, now: datetime) -> list[Detection]:
        """Mains is back: report the gap (outage, or removal if S1 moved meanwhile)."""
        now = ensure_utc(now)
        c = self._control
        power, found = c.power.mains_returned(now)
        if found:
            self._event_registration(now)
        self._set_control(self._detect(found, replace(self._control, power=power)))
        if self._journal.fed_until is not None and self._journal.fed_until < now:
            self._journal = replace(self._journal, fed_until=now)
        return found
