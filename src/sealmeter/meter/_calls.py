"""The module's calls to the head-end: sealing uplinks, backing off, applying downlinks.

`Calls` seals an uplink (queued registrations, the status, a nonce to echo), backs the
watchdog off when no authentic answer comes, and verifies and applies a downlink (enable
codes, schedules, commands, key rollover) all at once or not at all.

An uplink is sealed as a call (`seal_call`): the module keeps the call's answer key in RAM
(never in NVM), so the head-end may answer without a new key encapsulation. After a restart
the key is gone and such an answer is refused; the module calls again (nothing is lost: the
registrations stay queued until an enable code acknowledges them). While a key announcement
is pending the uplink is sealed plainly (the head-end opens announcing uplinks on their own
path), and its answer comes sealed in full.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from sealmeter.clock import ensure_utc
from sealmeter.errors import UsageError
from sealmeter.meter._core import MeterCore
from sealmeter.meter.downlink import DownlinkResult, apply_downlink, reason_of
from sealmeter.meter.errors import DownlinkRejected, NotProvisioned
from sealmeter.meter.rollover import KeysRecord, RolloverPlan, plan_rollover
from sealmeter.meter.state import ChainRecord, encode
from sealmeter.meter.watchdog import CommState
from sealmeter.protocol import (
    DUPLICATE_WINDOW,
    NONCE_SIZE,
    AnswerKey,
    Downlink,
    ProtocolPeerError,
    RegistrationKind,
    Uplink,
    open_downlink,
    seal_call,
    seal_uplink,
)

__all__ = ["FOLLOW_UP", "MAX_BATCH", "Calls"]

MAX_BATCH = DUPLICATE_WINDOW // 2
"""Registrations per uplink, oldest first. If an answer is lost, the next uplink repeats at
most this many, so they stay within the head-end's duplicate window and are acknowledged as
duplicates instead of being refused as replays; a full batch brings a follow-up call."""
FOLLOW_UP = timedelta(minutes=1)


class Calls(MeterCore):
    """`Meter`'s operations that talk to the head-end (see the module docstring)."""

    _answer_key: AnswerKey | None = None
    """The outstanding call's answer key: RAM only, gone after a restart (class default)."""

    # ------------------------------------------------------------------ communication
    def make_uplink(self, now: datetime) -> bytes:
        """Seal an uplink: every queued registration (the open segment closed now if it has
        usage), a status with the unreported detections, and a fresh nonce to echo."""
        now = ensure_utc(now)
        self._require_chain()
        last = self._control.last_uplink
        if last is not None and now <= last:
            raise UsageError(
                f"an uplink was already made at {last.isoformat()}; uplinks need strictly "
                "increasing times (the head-end treats an older one as a replay)"
            )
        self.advance_to(now)
        assert self._chain_rec is not None
        # The call closes the open segment, so the head-end sees usage up to now (a segment
        # with no usage is left open: retries while blocked do not fill the log).
        if (
            now > self._chain_rec.last_time
            and self._journal.target_units > self._chain_rec.last_total
        ):
            self._register(RegistrationKind.REAL_TIME, now)
        nonce = self._entropy(NONCE_SIZE)
        status = self.status(now)
        queued = self.queued_registrations()
        batch = tuple(queued[:MAX_BATCH])
        uplink = Uplink(self.config.meter_id, now, nonce, batch, status, self._announcement)
        dog = self._control.watchdog
        if dog.state is not CommState.CALLING:
            dog = dog.call_started()
        self._set_control(
            replace(
                self._control,
                pending_nonce=nonce,
                last_uplink=now,
                in_flight=self._control.unreported,
                more_queued=len(queued) > len(batch),
                watchdog=dog,
            )
        )
        assert self._headend is not None
        seed = self._entropy(32)
        if self._announcement:
            self._answer_key = None
            return seal_uplink(uplink, meter=self._private_keys(), headend=self._headend, seed=seed)
        sealed = seal_call(uplink, meter=self._private_keys(), headend=self._headend, seed=seed)
        self._answer_key = sealed.answer_key
        return sealed.data

    def call_failed(self, now: datetime) -> datetime:
        """No (authentic) answer to the last call: back off; returns when to try again."""
        now = ensure_utc(now)
        dog = self._control.watchdog.call_failed(self.config.meter_id, self.config.calls, now)
        self._set_control(replace(self._control, watchdog=dog))
        self._check_credit(now)
        return dog.next_call

    def accept_downlink(self, data: bytes, now: datetime) -> DownlinkResult:
        """Verify and apply a downlink; anything not authentic and fresh raises
        `DownlinkRejected` and changes nothing."""
        now = ensure_utc(now)
        _, record = self._require_chain()
        pending = self._control.pending_nonce
        if pending is None:
            raise DownlinkRejected("unsolicited", "no uplink is waiting for an answer")
        if self._headend is None:
            raise NotProvisioned("the head-end's keys are missing; provision the meter")
        try:
            down = open_downlink(
                data,
                meter=self._private_keys(),
                headend=self._headend,
                meter_id=self.config.meter_id,
                expected_nonce=pending,
                now=now,
                answer_key=self._answer_key,
            )
        except ProtocolPeerError as exc:
            raise DownlinkRejected(reason_of(exc), str(exc)) from None
        result = self._apply(down, now, record)
        self._answer_key = None  # answered: the key opens nothing else
        return result

    def _apply(self, down: Downlink, now: datetime, record: ChainRecord) -> DownlinkResult:
        """Apply an authentic downlink whole or not at all: control, schedules, keys."""
        control, schedules, result = apply_downlink(
            down, self._control, self._schedules, record.next_seq, self.config, now
        )
        slot = self._memory.records.slots["control"]
        checked, encoded = control, encode(control)
        if len(encoded) > slot.capacity:
            raise DownlinkRejected(
                "schedule-too-large",
                f"the schedules would need more than the {slot.capacity} bytes the module "
                "keeps for them; send a smaller schedule or fewer at once",
            )
        assert self._headend is not None
        keys = plan_rollover(
            result.rollovers,
            meter_id=self.config.meter_id,
            keys=self._private_keys(),
            headend=self._headend,
            next_seq=record.next_seq,
            entropy=self._entropy,
        )
        # Everything checked: close the segment if the rate changes now, then commit at once.
        if (
            result.schedules
            and self._chain_rec is not None
            and now > self._chain_rec.last_time
            and schedules.rate_at(now).key != self._schedules.rate_at(now).key
        ):
            self._register(RegistrationKind.EVENT, now)
        if self._control.more_queued and down.enable_code is not None:
            # the uplink left registrations behind and this answer acknowledged the batch: send
            # the rest soon. Without an enable code nothing was acknowledged; a call a minute
            # later would resend the same batch every minute, so keep the normal schedule.
            control = replace(
                control, watchdog=replace(control.watchdog, next_call=now + FOLLOW_UP)
            )
        self._set_control(control, encoded if control is checked else None)
        self._commit_keys(keys)
        self._schedules = schedules
        self._queued_charge = sum(
            (reg.total_charge for reg in self.queued_registrations()), Decimal(0)
        )
        self._check_credit(now)
        return replace(result, relay=self._control.relay)

    def _commit_keys(self, plan: RolloverPlan | None) -> None:
        """Store the keys after an authentic downlink: its rollover orders applied, and any
        pending announcement retired (the downlink opened with the new keys). One write."""
        if plan is None and not self._announcement:
            return
        keys = plan.keys if plan is not None else self._private_keys()
        headend = plan.headend if plan is not None else self._headend
        assert headend is not None
        announcement = plan.announcement if plan is not None and plan.renewed else b""
        blob = self._memory.records.require("keys")
        sealed = KeysRecord.from_bytes(blob).sealed_keys
        if plan is not None and plan.renewed:
            sealed = keys.to_bytes(self._device_key)
        record = KeysRecord(sealed, headend.to_bytes(), announcement)
        self._memory.records.write("keys", record.to_bytes())
        self._keys, self._headend, self._announcement = keys, headend, announcement
