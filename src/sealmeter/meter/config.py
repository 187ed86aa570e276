"""A meter's fixed settings, written once at manufacture into the identity record."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import cbor2

from sealmeter.errors import SealmeterError
from sealmeter.meter.credit import CreditFrame
from sealmeter.meter.errors import MeterConfigError, MeterStorageFault
from sealmeter.meter.tamper import BypassPolicy
from sealmeter.meter.watchdog import CallPolicy

__all__ = ["MeterConfig"]

FIRMWARE = "sealmeter-meter/0.1"


def _us(span: timedelta) -> int:
    return span // timedelta(microseconds=1)


def _span(us: int | None) -> timedelta | None:
    return None if us is None else timedelta(microseconds=us)


@dataclass(frozen=True)
class MeterConfig:
    """Settings of one meter.

    `unit_wh`: energy of one counter unit in Wh (default 1 Wh); `period`: a registration is
    closed at least this often (default daily); `load_step_w`: a change of interval power by
    more than this closes a registration as a load-change event (None: off); `credit`: the
    credit frame until the first enable code; `battery`: how long the battery carries the
    clock and sensors without mains.
    """

    meter_id: str
    unit_wh: int = 1
    period: timedelta = timedelta(days=1)
    load_step_w: int | None = None
    calls: CallPolicy = field(default_factory=CallPolicy)
    credit: CreditFrame = field(default_factory=CreditFrame)
    bypass: BypassPolicy = field(default_factory=BypassPolicy)
    battery: timedelta = timedelta(days=365)
    log_entries: int = 128
    firmware: str = FIRMWARE

    def __post_init__(self) -> None:
        """Reject settings a real meter could not run with."""
        if not self.meter_id or len(self.meter_id.encode()) > 64:
            raise MeterConfigError("a meter id must be 1 to 64 bytes of UTF-8")
        if self.unit_wh < 1:
            raise MeterConfigError(f"unit_wh={self.unit_wh} must be a whole number of Wh >= 1")
        if self.period < timedelta(minutes=1):
            raise MeterConfigError(f"registration period {self.period} is below a minute")
        if self.load_step_w is not None and self.load_step_w <= 0:
            raise MeterConfigError("load_step_w must be positive (or None to disable)")
        if self.log_entries < 8:
            raise MeterConfigError("the registration log needs at least 8 entries")

    def to_bytes(self) -> bytes:
        """Canonical CBOR for the identity record."""
        c, cr, b = self.calls, self.credit, self.bypass
        obj: list[Any] = [
            self.meter_id,
            self.unit_wh,
            _us(self.period),
            self.load_step_w,
            [_us(c.period), _us(c.backoff_base), _us(c.backoff_cap)],
            [
                None if cr.duration is None else _us(cr.duration),
                None if cr.charge_limit is None else str(cr.charge_limit),
            ],
            [b.threshold_a, b.threshold_ratio, _us(b.duration)],
            _us(self.battery),
            self.log_entries,
            self.firmware,
        ]
        return bytes(cbor2.dumps(obj, canonical=True))

    @classmethod
    def from_bytes(cls, data: bytes) -> MeterConfig:
        """Inverse of `to_bytes`; content that is not a configuration is a storage fault."""
        try:
            return cls._from_obj(cbor2.loads(data))
        except SealmeterError:
            raise
        except Exception as exc:
            raise MeterStorageFault(
                f"the identity record passed its code but is not a meter configuration "
                f"({type(exc).__name__}); the memory layout is corrupt: replace the module"
            ) from None

    @classmethod
    def _from_obj(cls, obj: Any) -> MeterConfig:
        (mid, unit, period, step, calls, credit, byp, battery, entries, fw) = obj
        return cls(
            meter_id=mid,
            unit_wh=unit,
            period=timedelta(microseconds=period),
            load_step_w=step,
            calls=CallPolicy(*(timedelta(microseconds=v) for v in calls)),
            credit=CreditFrame(_span(credit[0]), None if credit[1] is None else Decimal(credit[1])),
            bypass=BypassPolicy(byp[0], byp[1], timedelta(microseconds=byp[2])),
            battery=timedelta(microseconds=battery),
            log_entries=entries,
            firmware=fw,
        )
