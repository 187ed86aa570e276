"""Applying an authentic downlink, as a pure function of the module's state.

`apply_downlink` checks everything a downlink asks for (schedules: well formed, matching their
announced header, never a downgrade; commands: known, an inspection reset only after the
inspector's key on S2; an enable code: acknowledging only registrations that were made) and
returns the new control state, the new schedule book and a `DownlinkResult`; any refusal
raises `DownlinkRejected` before anything changed. The module then commits the new state in
one record write, so a downlink is applied whole or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sealmeter.errors import UsageError
from sealmeter.meter.charging import Schedules
from sealmeter.meter.config import MeterConfig
from sealmeter.meter.credit import CreditFrame, CreditGrant, RelayEvent, RelayState, relay_after
from sealmeter.meter.errors import DownlinkRejected
from sealmeter.meter.rollover import check_order
from sealmeter.meter.state import ControlState
from sealmeter.meter.tamper import (
    HousingEvent,
    HousingState,
    LoopEvent,
    housing_after,
    loop_after,
)
from sealmeter.protocol import CommandKind, Downlink, EnableCode, RolloverOrder
from sealmeter.tariff import RateSchedule

__all__ = ["DownlinkResult", "apply_downlink", "reason_of"]


@dataclass(frozen=True)
class DownlinkResult:
    """What an accepted downlink changed."""

    enable_code: bool
    acked_seq: int
    credit_expires: datetime | None
    schedules: tuple[tuple[str, int], ...]
    commands: tuple[CommandKind, ...]
    relay: RelayState
    rollovers: tuple[RolloverOrder, ...] = ()
    """Key rollover orders, checked for this meter; the module applies them (meter.rollover)."""


def reason_of(error: Exception) -> str:
    """A protocol error's class name as a reason: `BadSignature` -> "bad-signature"."""
    name = type(error).__name__
    return "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-")


def _schedules(
    down: Downlink, book: Schedules, now: datetime
) -> tuple[Schedules, list[tuple[str, int]]]:
    installed: list[tuple[str, int]] = []
    for update in down.schedules:
        try:
            schedule = RateSchedule.from_bytes(update.schedule_bytes)
        except UsageError as exc:
            raise DownlinkRejected("bad-schedule", str(exc)) from None
        header = (schedule.id, schedule.version, schedule.valid_from, schedule.valid_to)
        if header != (update.schedule_id, update.version, update.valid_from, update.valid_to):
            raise DownlinkRejected(
                "bad-schedule", "the schedule's bytes disagree with its announced header"
            )
        if update.schedule_bytes in book.to_bytes():
            continue  # already installed (a resend after a lost answer): nothing to do
        book = book.install(schedule, now)
        installed.append((schedule.id, schedule.version))
    return book, installed


def _frame(code: EnableCode, default: CreditFrame) -> CreditFrame:
    """The meter's credit frame from the protocol's (zero means "no limit of this kind")."""
    frame = code.credit_frame
    duration = frame.duration if frame.duration > timedelta(0) else None
    limit = frame.charge_limit if frame.charge_limit > 0 else None
    if duration is None and limit is None:
        return default
    return CreditFrame(duration, limit)


def apply_downlink(
    down: Downlink,
    control: ControlState,
    book: Schedules,
    next_seq: int,
    config: MeterConfig,
    now: datetime,
) -> tuple[ControlState, Schedules, DownlinkResult]:
    """The state after an authentic, fresh downlink (see the module docstring)."""
    book, installed = _schedules(down, book, now)
    relay, housing, loop, bypass = control.relay, control.housing, control.loop, control.bypass
    rollovers: list[RolloverOrder] = []
    for command in down.commands:
        if command.kind is CommandKind.BLOCK:
            relay = relay_after(relay, RelayEvent.BLOCK_COMMAND)
        elif command.kind is CommandKind.UNBLOCK:
            relay = relay_after(relay, RelayEvent.UNBLOCK_COMMAND)
        elif command.kind is CommandKind.INSPECTION_RESET:
            if housing not in (HousingState.INSPECTING, HousingState.INSPECTING_AFTER_TAMPER):
                raise DownlinkRejected(
                    "inspection-without-key",
                    "an inspection reset needs the inspector's key on S2 first",
                )
            housing = housing_after(housing, HousingEvent.INSPECTION_RESET)
            loop = loop_after(loop, LoopEvent.INSPECTION_RESET)
            bypass = bypass.reset()
        elif command.kind is CommandKind.KEY_ROLLOVER:
            rollovers.append(check_order(command.argument, config.meter_id))
        else:
            raise DownlinkRejected(
                "unsupported-command", f"command {command.kind.name} is not supported"
            )
    code = down.enable_code
    acked, grant = control.acked_seq, control.grant
    if code is not None:
        if code.acked_seq >= next_seq:
            raise DownlinkRejected(
                "acks-unmade",
                f"the enable code acknowledges registration {code.acked_seq}, but only "
                f"{next_seq - 1} were made",
            )
        acked = max(acked, code.acked_seq)
        grant = CreditGrant(now, _frame(code, config.credit))
        relay = relay_after(relay, RelayEvent.ENABLE_CODE)
    new = replace(
        control,
        relay=relay,
        relay_since=now if relay is not control.relay else control.relay_since,
        grant=grant,
        acked_seq=acked,
        pending_nonce=None,
        housing=housing,
        loop=loop,
        bypass=bypass,
        unreported=max(control.unreported - control.in_flight, 0),
        in_flight=0,
        more_queued=False,
        schedules=book.to_bytes(),
        watchdog=control.watchdog.call_succeeded(config.meter_id, config.calls, now),
        power=control.power.clock_set(),
    )
    result = DownlinkResult(
        code is not None,
        acked,
        grant.expires_at,
        tuple(installed),
        tuple(c.kind for c in down.commands),
        relay,
        tuple(rollovers),
    )
    return new, book, result
