"""The module's persistent state, as values, and their byte form in NVM.

Three records change at different rates, so each is its own tear-safe record (see `records`):

- `Journal` (every feed): total energy measured in µWh and the counter total it implies, the
  peak load. Written *before* the units go into the counter, so after a power cut the boot
  completes the counter to the journal's target: no unit is lost or invented.
- `ChainRecord` (every registration): the MAC-chain state (its key sealed under the module's
  device key), the counter total and time of the last registration (the open segment starts
  there), the cumulative usage and charge per register.
- `ControlState` (downlinks, tamper, relay, watchdog): relay and credit grant, the highest
  acknowledged sequence number, the pending uplink nonce, the watchdog, the tamper machines and
  their detections, installed schedules. A downlink is applied by one write of this record,
  so it is applied whole or not at all.

All are frozen dataclasses; `encode`/`decode` give canonical CBOR. A decode failure means the
record's redundancy code passed but its content is not ours: a storage fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import cbor2

from sealmeter.meter.credit import CreditFrame, CreditGrant, RelayState
from sealmeter.meter.errors import MeterStorageFault
from sealmeter.meter.power import PowerState, VoltageWatchdog
from sealmeter.meter.tamper import (
    BypassDetector,
    BypassState,
    Detection,
    DetectionKind,
    HousingState,
    LoopState,
)
from sealmeter.meter.watchdog import CommState, Watchdog

__all__ = ["ChainRecord", "ControlState", "Journal", "decode", "encode"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_T = TypeVar("_T", "Journal", "ChainRecord", "ControlState")


def _t(value: datetime | None) -> int | None:
    # whole microseconds since the epoch, exactly (one C-level floor division)
    return None if value is None else (value - _EPOCH) // _MICRO


def _dt(value: int | None) -> datetime | None:
    return None if value is None else _EPOCH + timedelta(microseconds=value)


def _need(value: int | None) -> datetime:
    when = _dt(value)
    if when is None:
        raise MeterStorageFault("a required time is missing from a stored record")
    return when


def _span(value: timedelta | None) -> int | None:
    return None if value is None else value // timedelta(microseconds=1)


@dataclass(frozen=True)
class Journal:
    """Energy measured so far (µWh), the counter total it implies, and the peak load."""

    energy_uwh: int = 0
    target_units: int = 0
    fed_until: datetime | None = None
    peak_w: int = 0
    peak_at: datetime | None = None
    last_load_w: int = 0

    def to_obj(self) -> list[Any]:
        """Plain values for CBOR."""
        return [
            self.energy_uwh,
            self.target_units,
            _t(self.fed_until),
            self.peak_w,
            _t(self.peak_at),
            self.last_load_w,
        ]

    @classmethod
    def from_obj(cls, obj: list[Any]) -> Journal:
        """Inverse of `to_obj`."""
        e, target, fed, peak, peak_at, load = obj
        return cls(int(e), int(target), _dt(fed), int(peak), _dt(peak_at), int(load))


@dataclass(frozen=True)
class ChainRecord:
    """Chain state (sealed), the last registration's counter total and time, and the ack."""

    sealed_chain: bytes
    next_seq: int
    last_total: int
    last_time: datetime
    totals: tuple[tuple[str, int, Decimal], ...] = ()
    month: str = ""
    month_usage: tuple[tuple[str, int], ...] = ()

    def to_obj(self) -> list[Any]:
        """Plain values for CBOR."""
        return [
            self.sealed_chain,
            self.next_seq,
            self.last_total,
            _t(self.last_time),
            [[obis, usage, str(charge)] for obis, usage, charge in self.totals],
            self.month,
            [[obis, usage] for obis, usage in self.month_usage],
        ]

    @classmethod
    def from_obj(cls, obj: list[Any]) -> ChainRecord:
        """Inverse of `to_obj`."""
        sealed, next_seq, total, last, totals, month, month_usage = obj
        return cls(
            bytes(sealed),
            int(next_seq),
            int(total),
            _need(last),
            tuple((str(o), int(u), Decimal(c)) for o, u, c in totals),
            str(month),
            tuple((str(o), int(u)) for o, u in month_usage),
        )


def _detection_obj(d: Detection) -> list[Any]:
    return [d.kind.value, _t(d.at), _t(d.since), _t(d.until)]


def _detection(obj: list[Any]) -> Detection:
    kind, at, since, until = obj
    return Detection(DetectionKind(kind), _need(at), _dt(since), _dt(until))


@dataclass(frozen=True)
class ControlState:
    """Everything that changes on downlinks, calls, tamper detections and relay moves."""

    relay: RelayState
    grant: CreditGrant
    watchdog: Watchdog
    pending_nonce: bytes | None = None
    last_uplink: datetime | None = None
    housing: HousingState = HousingState.SEALED
    loop: LoopState = LoopState.INTACT
    bypass: BypassDetector = field(default_factory=BypassDetector)
    power: VoltageWatchdog = field(default_factory=VoltageWatchdog)
    detections: tuple[Detection, ...] = ()
    unreported: int = 0
    schedules: tuple[bytes, ...] = ()
    relay_since: datetime | None = None
    acked_seq: int = 0
    in_flight: int = 0
    more_queued: bool = False

    def to_obj(self) -> list[Any]:
        """Plain values for CBOR."""
        g = self.grant
        w = self.watchdog
        p = self.power
        return [
            self.relay.value,
            [_t(g.granted_at), _span(g.frame.duration), _money(g.frame.charge_limit)],
            [w.state.value, _t(w.next_call), w.failures, _t(w.last_success)],
            self.pending_nonce,
            _t(self.last_uplink),
            self.housing.value,
            self.loop.value,
            [self.bypass.state.value, _t(self.bypass.since)],
            [
                p.state.value,
                _t(p.lost_at),
                _span(p.battery_left),
                _span(p.battery_capacity),
                p.opened_on_battery,
                p.clock_valid,
            ],
            [_detection_obj(d) for d in self.detections],
            self.unreported,
            list(self.schedules),
            _t(self.relay_since),
            self.acked_seq,
            self.in_flight,
            self.more_queued,
        ]

    @classmethod
    def from_obj(cls, obj: list[Any]) -> ControlState:
        """Inverse of `to_obj`."""
        (relay, g, w, nonce, last_up, housing, loop, byp, p, dets, unrep, scheds, since) = obj[:13]
        acked, in_flight, more = obj[13:]
        granted_at, duration, limit = g
        frame = CreditFrame(
            None if duration is None else timedelta(microseconds=duration),
            None if limit is None else Decimal(limit),
        )
        return cls(
            relay=RelayState(relay),
            grant=CreditGrant(_need(granted_at), frame),
            watchdog=Watchdog(CommState(w[0]), _need(w[1]), int(w[2]), _dt(w[3])),
            pending_nonce=None if nonce is None else bytes(nonce),
            last_uplink=_dt(last_up),
            housing=HousingState(housing),
            loop=LoopState(loop),
            bypass=BypassDetector(BypassState(byp[0]), _dt(byp[1])),
            power=VoltageWatchdog(
                PowerState(p[0]),
                _dt(p[1]),
                timedelta(microseconds=p[2]),
                timedelta(microseconds=p[3]),
                bool(p[4]),
                bool(p[5]),
            ),
            detections=tuple(_detection(d) for d in dets),
            unreported=int(unrep),
            schedules=tuple(bytes(s) for s in scheds),
            relay_since=_dt(since),
            acked_seq=int(acked),
            in_flight=int(in_flight),
            more_queued=bool(more),
        )


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def encode(value: Journal | ChainRecord | ControlState) -> bytes:
    """Canonical CBOR of a state value."""
    return bytes(cbor2.dumps(value.to_obj(), canonical=True))


def decode(kind: type[_T], data: bytes) -> _T:
    """Decode a state value of `kind`; raise `MeterStorageFault` if it is not one."""
    try:
        obj = cbor2.loads(data)
        return kind.from_obj(obj)
    except MeterStorageFault:
        raise
    except Exception as exc:
        raise MeterStorageFault(
            f"stored {kind.__name__} passed its redundancy code but cannot be decoded "
            f"({type(exc).__name__}); the module's memory layout is corrupt: replace the module"
        ) from None
