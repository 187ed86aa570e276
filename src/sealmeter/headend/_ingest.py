"""Ingest: verify -> decrypt -> check sequence and MAC chain -> store exactly once -> answer.

A group of uplinks is opened without touching the database (the protocol core does the
crypto and the chain check against each meter's stored chain state), everything they change
is collected into one `IngestBatch`, and the store writes it in one transaction. Only after
the commit are the downlinks sealed and returned, so an enable code is never sent for data
that is not stored. Exactly-once is the database's job: registrations are insert-or-ignore on
(meter, seq), and a meter's chain advances by compare-and-set; if another worker advanced a
meter first, the whole group is opened again against the new state.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from sealmeter.headend._billing import plain_rows, registration_row
from sealmeter.headend._keys import BoxKeys
from sealmeter.headend._policy import Policy
from sealmeter.headend._rollover import RolloverIngest
from sealmeter.headend._schedules import ParsedSchedule, parse_schedule
from sealmeter.headend._sealing import open_secret, open_state, seal_state
from sealmeter.headend._tiers import REPLAY_SPAN, MonthUsage
from sealmeter.headend.errors import HeadEndError, ScheduleError
from sealmeter.protocol import (
    AnswerKey,
    BadAuthCode,
    BadSignature,
    ChainConflict,
    ChainGap,
    ChainReorder,
    ChainStale,
    Command,
    CommandKind,
    CreditFrame,
    DecryptionFailed,
    Downlink,
    EnableCode,
    HeadEndChain,
    MalformedMessage,
    OpenedUplink,
    PrivateKeys,
    ProtocolPeerError,
    ProtocolUsageError,
    PublicKeys,
    ReaddressedMessage,
    Registration,
    ReplayedUplink,
    ScheduleUpdate,
    Suite,
    SuiteDowngrade,
    TamperKind,
    UnexpectedRollover,
    WrongDirection,
    WrongRecipient,
    WrongSender,
    open_call,
    peek_header,
    seal_answer,
    seal_downlink,
    symmetric_keys,
)
from sealmeter.store import (
    ID_SIZE,
    MAX_STORED_INT,
    MAX_STORED_VERSION,
    AlertKind,
    ConcurrentUpdate,
    IngestBatch,
    MeterAdvance,
    MeterRecord,
    MeterState,
    NewAlert,
    NewEnableCode,
    NewPowerEvent,
    NewRejection,
    NewUplink,
    RejectionReason,
    ScheduleConfirmation,
    Severity,
    Store,
    StoredMeter,
    is_storable_id,
)
from sealmeter.store._batch import REGISTRATION_COLUMNS, widen_plain
from sealmeter.store._convert import registers_from_json, to_us, us_to_dt

__all__ = ["REJECTION_ANSWER", "Ingestor"]

REJECTION_ANSWER = b"\x00sealmeter/invalid-message"
"""The one fixed answer to any uplink the head-end refuses (it reveals nothing)."""

_REASONS: tuple[tuple[type[ProtocolPeerError], RejectionReason], ...] = (
    (SuiteDowngrade, RejectionReason.SUITE_MISMATCH),
    (WrongRecipient, RejectionReason.WRONG_RECIPIENT),
    (WrongSender, RejectionReason.BAD_SIGNATURE),
    (BadSignature, RejectionReason.BAD_SIGNATURE),
    (DecryptionFailed, RejectionReason.DECRYPT_FAILED),
    (ReaddressedMessage, RejectionReason.WRONG_RECIPIENT),
    (ReplayedUplink, RejectionReason.REPLAY),
    (UnexpectedRollover, RejectionReason.REPLAY),  # a stale or unsolicited key rollover
    (ChainStale, RejectionReason.REPLAY),
    (ChainConflict, RejectionReason.DUPLICATE_CONFLICT),
    (ChainReorder, RejectionReason.REORDERED),
    (ChainGap, RejectionReason.SEQUENCE_GAP),
    (BadAuthCode, RejectionReason.BAD_CHAIN),
    (WrongDirection, RejectionReason.MALFORMED),
    (MalformedMessage, RejectionReason.MALFORMED),
)

_TAMPER = {
    TamperKind.HOUSING_OPENED: Severity.CRITICAL,
    TamperKind.SEAL_LOOP_BROKEN: Severity.CRITICAL,
    TamperKind.BYPASS: Severity.CRITICAL,
    TamperKind.MODULE_REMOVED: Severity.CRITICAL,
    TamperKind.AUTHORISED_OPENING: Severity.INFO,
}
_POWER = (TamperKind.DISCONNECTION, TamperKind.SUPPLY_OUTAGE)
_ROW_METER, _ROW_SEQ, _ROW_TIME, _ROW_SCHEDULE, _ROW_VERSION, _ROW_REGISTERS = (
    REGISTRATION_COLUMNS.index(c)
    for c in ("meter_id", "seq", "time_us", "schedule_id", "schedule_version", "registers")
)
_FULL_ROW = len(REGISTRATION_COLUMNS)  # a shorter row is a plain one (PLAIN_COLUMNS)
_CHAIN_CACHE_MAX = 100_000  # meters whose opened chain state is kept between batches


def _clone_alert(rec: MeterRecord, exc: ChainConflict, now: datetime) -> NewAlert:
    """The critical alert for an authentic uplink that rewrites an accepted registration.

    The envelope verified with the meter's pinned key and the chain led up to the number, yet
    the registration differs from the one accepted under it: two devices hold this meter's
    secrets (a clone that reported first, or extracted keys). One alert per meter id. Codes
    are not withheld automatically: the copy that reported first may be the genuine one, and
    a meter without codes calls again and again; the operator blocks the id (see the text).
    """
    return NewAlert(
        AlertKind.CLONE_SUSPECTED,
        Severity.CRITICAL,
        rec.meter_id,
        rec.feeder or None,
        f"meter {rec.meter_id}: an uplink signed with its key rewrites an accepted registration "
        f"({exc}). Two devices hold this meter's secrets: one of them is a clone, or its keys "
        f"leaked. Block the meter id (`sealmeter headend block {rec.meter_id}`) to stop enable "
        f"codes for both, inspect the meter on site, `sealmeter headend decommission "
        f"{rec.meter_id}` and provision the genuine device afresh (new keys, new chain): a key "
        "rollover over the air would reach the clone too",
        now,
        now,
        f"clone:{rec.meter_id}",
    )


def _shown(text: str, size: int = 40) -> str:
    """`text` for a log line: its repr (control characters escaped), cut after `size`."""
    return repr(text[:size]) + (f" (+{len(text) - size} characters)" if len(text) > size else "")


def _unstorable(opened: OpenedUplink) -> str | None:
    """What of an opened uplink the store could not keep as it is, if anything.

    The schedule ids its new registrations and its status name go into id columns and
    queries, each registration's total usage into a signed 64-bit column and its schedule
    version into a signed 32-bit one (PostgreSQL's integer): one the store
    cannot hold would fail the whole batch (on PostgreSQL, or SQLite's driver for a number).
    """
    named = {reg.schedule_id for reg in opened.accepted}
    status = opened.uplink.status
    if status is not None:
        named.add(status.schedule_id)
    for schedule_id in named:
        if schedule_id and not is_storable_id(schedule_id):
            return f"schedule id {_shown(schedule_id)}"
    for reg in opened.accepted:
        total = sum(map(_usage, reg.registers))
        if total > MAX_STORED_INT:
            return f"registration {reg.seq} with a usage of {total}"
        if reg.schedule_version > MAX_STORED_VERSION:
            return f"registration {reg.seq} naming schedule version {reg.schedule_version}"
    return None


_usage = attrgetter("usage")


def _reason(exc: ProtocolPeerError) -> RejectionReason:
    for cls, reason in _REASONS:
        if isinstance(exc, cls):
            return reason
    return RejectionReason.MALFORMED


@dataclass(slots=True)
class _MeterView:
    """A meter as this batch sees it: stored state plus what earlier uplinks changed."""

    stored: StoredMeter
    public: PublicKeys
    chain: HeadEndChain
    private: PrivateKeys | None  # the symmetric suite's per-meter keys (else the box's)
    last_seen: datetime | None
    touched: bool = False
    sent_schedules: set[tuple[str, int]] = field(default_factory=set)
    disputed: bool = False  # an earlier charge mismatch is not resolved yet
    mismatch: str | None = None  # a charge mismatch in this batch: why the code is withheld
    months: MonthUsage | None = None  # usage so far in the billing month (tiered bands)
    rows: int = 0  # registration rows this batch holds for the meter


@dataclass(slots=True)
class _Reply:
    downlink: Downlink | None
    private: PrivateKeys | None
    public: PublicKeys | None
    answer_key: AnswerKey | None = None  # the meter's call: answer under its key


class Ingestor:
    """The ingest path of one head-end process (safe to share between threads)."""

    def __init__(self, store: Store, keys: BoxKeys, policy: Policy) -> None:
        """Ingest into `store`, opening with the box's `keys`, under `policy`."""
        self.store = store
        self.keys = keys
        self.policy = policy
        self.counters: dict[str, int] = {
            "uplinks_accepted": 0,
            "uplinks_rejected": 0,
            "registrations_stored": 0,
            "duplicates_acknowledged": 0,
            "batch_retries": 0,
        }
        self._public_cache: dict[bytes, PublicKeys] = {}
        self._schedule_cache: dict[tuple[str, int], ParsedSchedule | None] = {}
        # a meter's credit frame -> the CreditFrame its enable codes carry
        self._frames: dict[timedelta, CreditFrame] = {}
        # meter -> (sealed chain state as last committed by this process, that state opened):
        # when the stored bytes are still the ones we wrote, unsealing and parsing are skipped;
        # any other bytes (another worker moved the meter, a restore) are unsealed afresh
        self._chains: dict[str, tuple[bytes, HeadEndChain]] = {}
        # meter -> its usage so far in the billing month, as committed (tiered schedules only)
        self._months: dict[str, MonthUsage] = {}
        self._local = threading.local()  # per-thread: schedules found unknown in this batch
        self.rollovers = RolloverIngest()  # meters with a key rollover under way

    # ------------------------------------------------------------------ entry point
    def handle(self, datas: list[bytes], now: datetime) -> list[bytes]:
        """Ingest `datas` in one transaction; return one answer per uplink, in order."""
        for _attempt in range(self.policy.batch_retries):
            batch, replies, chains, months = self._plan(datas, now)
            try:
                self.store.write_batch(batch)
            except ConcurrentUpdate:
                self.counters["batch_retries"] += 1
                continue
            self.rollovers.commit(self.store, now)
            if len(self._chains) > _CHAIN_CACHE_MAX:
                self._chains.clear()
            self._chains.update(chains)  # only what is committed
            if len(self._months) > _CHAIN_CACHE_MAX:
                self._months.clear()
            self._months.update(months)
            break
        else:
            raise ConcurrentUpdate(
                f"the batch lost the race for its meters {self.policy.batch_retries} times; "
                "nothing was stored or acknowledged; retry later"
            )
        self.counters["uplinks_rejected"] += sum(1 for r in replies if r.downlink is None)
        self.counters["uplinks_accepted"] += sum(1 for r in replies if r.downlink is not None)
        self.counters["registrations_stored"] += len(batch.registrations)
        return [self._seal(r) for r in replies]

    @staticmethod
    def _seal(reply: _Reply) -> bytes:
        if reply.downlink is None or reply.private is None or reply.public is None:
            return REJECTION_ANSWER
        if reply.answer_key is not None:
            # an answer to a call: under the call's key, no new key encapsulation
            return seal_answer(reply.downlink, headend=reply.private, answer_key=reply.answer_key)
        return seal_downlink(reply.downlink, headend=reply.private, meter=reply.public)

    # ------------------------------------------------------------------ planning
    def _plan(
        self, datas: list[bytes], now: datetime
    ) -> tuple[
        IngestBatch,
        list[_Reply],
        dict[str, tuple[bytes, HeadEndChain]],
        dict[str, MonthUsage],
    ]:
        batch = IngestBatch()
        self._local.unknown = set()
        self.rollovers.begin()
        claimed: list[str | None] = []
        for data in datas:
            try:
                claimed.append(peek_header(data).meter_id)
            except ProtocolPeerError:
                claimed.append(None)
        stored, pending, disputed = self.store.load_for_ingest_with_disputes(
            [m for m in claimed if m is not None and is_storable_id(m)]
        )
        views: dict[str, _MeterView] = {}
        replies: list[_Reply] = []
        chains: dict[str, tuple[bytes, HeadEndChain]] = {}
        for data, meter_id in zip(datas, claimed, strict=True):
            replies.append(self._one(data, meter_id, stored, views, pending, disputed, batch, now))
        months: dict[str, MonthUsage] = {}
        for view in views.values():
            if view.months is not None:
                months[view.stored.record.meter_id] = view.months
            if view.touched:
                rec = view.stored.record
                sealed = seal_state(self.keys, rec.meter_id, view.chain.to_bytes())
                chains[rec.meter_id] = (sealed, view.chain)
                batch.advances.append(
                    MeterAdvance(
                        meter_id=rec.meter_id,
                        expected_seq=rec.last_seq,
                        new_seq=view.chain.last_seq,
                        chain_state=sealed,
                        last_seen=now,
                        activate=rec.state is MeterState.PROVISIONED,
                        clear_command=view.stored.pending_command is not None,
                    )
                )
                for schedule_id, version in sorted(view.sent_schedules):
                    batch.schedules_sent.append(
                        ScheduleConfirmation(rec.meter_id, schedule_id, version, now)
                    )
        self.log_enable_codes(batch, replies)
        return batch, replies, chains, months

    def _reject(
        self,
        batch: IngestBatch,
        data: bytes,
        now: datetime,
        reason: RejectionReason,
        detail: str,
        meter: StoredMeter | None,
        claimed: str | None,
    ) -> _Reply:
        batch.rejections.append(
            NewRejection(
                received_at=now,
                meter_id=claimed,
                reason=reason,
                detail=detail,
                size=len(data),
                digest=hashlib.sha256(data).hexdigest(),
            )
        )
        if meter is not None:
            rec = meter.record
            hour = to_us(now) // 3_600_000_000
            batch.alerts.append(
                NewAlert(
                    AlertKind.REJECTED_UPLINK,
                    Severity.WARNING,
                    rec.meter_id,
                    rec.feeder or None,
                    f"uplink claiming to be from {rec.meter_id} rejected ({reason.value}): "
                    f"{detail}",
                    now,
                    now,
                    f"rejected:{rec.meter_id}:{reason.value}:{hour}",
                )
            )
        return _Reply(None, None, None)

    def _view(self, meter: StoredMeter, views: dict[str, _MeterView]) -> _MeterView:
        view = views.get(meter.record.meter_id)
        if view is None:
            meter_id = meter.record.meter_id
            private: PrivateKeys | None = None
            if meter.record.suite == Suite.SYMMETRIC.value:
                private = symmetric_keys(open_secret(self.keys, meter_id, meter.public_keys))
                public = private.public()
            else:
                cached = self._public_cache.get(meter.public_keys)
                public = cached or PublicKeys.from_bytes(meter.public_keys)
                self._public_cache[meter.public_keys] = public
            known = self._chains.get(meter_id)
            if known is not None and known[0] == meter.chain_state:
                chain = known[1]
            else:
                chain = HeadEndChain.from_bytes(open_state(self.keys, meter_id, meter.chain_state))
            view = _MeterView(
                stored=meter,
                public=public,
                chain=chain,
                private=private,
                last_seen=meter.record.last_seen,
            )
            views[meter.record.meter_id] = view
        return view

    def _one(
        self,
        data: bytes,
        claimed: str | None,
        stored: dict[str, StoredMeter],
        views: dict[str, _MeterView],
        pending: dict[str, list[tuple[str, int]]],
        disputed: set[str],
        batch: IngestBatch,
        now: datetime,
    ) -> _Reply:
        if claimed is None:
            return self._reject(
                batch, data, now, RejectionReason.MALFORMED, "no readable envelope", None, None
            )
        if not is_storable_id(claimed):
            # unauthenticated header text no meter id can be: not looked up, not stored
            return self._reject(
                batch,
                data,
                now,
                RejectionReason.UNKNOWN_METER,
                f"the envelope claims meter id {_shown(claimed)}, which no meter can have "
                f"(1 to {ID_SIZE} printable characters)",
                None,
                None,
            )
        meter = stored.get(claimed)
        if meter is None:
            return self._reject(
                batch,
                data,
                now,
                RejectionReason.UNKNOWN_METER,
                f"no meter {claimed!r} is provisioned",
                None,
                claimed,
            )
        rec = meter.record
        if rec.state is MeterState.DECOMMISSIONED:
            return self._reject(
                batch,
                data,
                now,
                RejectionReason.DECOMMISSIONED,
                f"meter {claimed!r} is decommissioned",
                meter,
                claimed,
            )
        try:
            view = self._view(meter, views)
            view.disputed = claimed in disputed
            private = view.private or self.keys.private(Suite.from_name(rec.suite))
        except (ProtocolUsageError, HeadEndError) as exc:
            return self._reject(
                batch, data, now, RejectionReason.INTERNAL, str(exc), meter, claimed
            )
        answer_key = None
        try:
            if meter.rollover is None:
                opened, answer_key = open_call(
                    data, headend=private, meter=view.public, meter_id=claimed, chain=view.chain
                )
            else:  # a key rollover is under way (headend/_rollover.py)
                opened, private, view.public = self.rollovers.open(
                    self.keys, data, meter, view.public, private, view.chain
                )
                if view.private is not None:  # symmetric: the per-meter keys may be new
                    view.private = private
        except ChainGap as exc:
            batch.alerts.append(
                NewAlert(
                    AlertKind.SEQUENCE_GAP,
                    Severity.WARNING,
                    claimed,
                    rec.feeder or None,
                    str(exc),
                    now,
                    now,
                    f"gap:{claimed}:{view.chain.last_seq}",
                )
            )
            return self._reject(batch, data, now, _reason(exc), str(exc), meter, claimed)
        except ProtocolPeerError as exc:
            if isinstance(exc, ChainConflict):
                batch.alerts.append(_clone_alert(rec, exc, now))
            return self._reject(batch, data, now, _reason(exc), str(exc), meter, claimed)
        unstorable = _unstorable(opened)
        if unstorable is not None:
            detail = (
                f"uplink of meter {claimed!r} is authentic but carries {unstorable}, which no "
                f"record can hold (ids are 1 to {ID_SIZE} printable characters, integers at "
                "most 2**63 - 1, versions 2**31 - 1): nothing of it is stored; the meter's "
                "configuration or firmware is wrong"
            )
            return self._reject(batch, data, now, RejectionReason.MALFORMED, detail, meter, claimed)
        if opened.stale and not opened.accepted and not opened.duplicates:
            # only registrations acknowledged long ago: a meter never resends just those,
            # so this is an old uplink replayed
            detail = (
                f"uplink of meter {claimed!r} carries only registrations "
                f"{opened.stale[0]}..{opened.stale[-1]}, acknowledged long ago: a replay"
            )
            return self._reject(batch, data, now, RejectionReason.REPLAY, detail, meter, claimed)
        self._accept(opened, data, view, batch, now, pending.get(claimed, ()))
        answer = self._answer(opened, view, pending, now)
        if answer.enable_code is None and rec.state is not MeterState.BLOCKED:
            why = view.mismatch or "an earlier charge mismatch is not resolved"
            batch.alerts.append(
                NewAlert(
                    AlertKind.ENABLE_CODE_WITHHELD,
                    Severity.WARNING,
                    claimed,
                    rec.feeder or None,
                    f"enable code for meter {claimed} (registrations up to "
                    f"{view.chain.last_seq}) withheld: {why}; the meter keeps its outstanding "
                    f"charge. Settle the mismatch, then `sealmeter headend resolve {claimed}`",
                    now,
                    now,
                    f"withheld:{claimed}:{view.chain.last_seq}",
                )
            )
        return _Reply(answer, private, view.public, answer_key)

    def _credit_frame(self, duration: timedelta) -> CreditFrame:
        """The credit frame an enable code for `duration` carries (built and checked once)."""
        limit = self.policy.credit_limit
        frame = self._frames.get(duration)
        # by identity: a limit equal in value but written with another exponent encodes
        # differently on the wire, so only the policy's own object may be reused
        if frame is None or frame.charge_limit is not limit:
            frame = CreditFrame(duration, limit)
            if len(self._frames) > 64:
                self._frames.clear()
            self._frames[duration] = frame
        return frame

    # ------------------------------------------------------------------ an authentic uplink
    def _accept(
        self,
        opened: OpenedUplink,
        data: bytes,
        view: _MeterView,
        batch: IngestBatch,
        now: datetime,
        unconfirmed: Sequence[tuple[str, int]] = (),
    ) -> None:
        rec = view.stored.record
        uplink = opened.uplink
        view.chain = opened.chain
        view.touched = True
        self.counters["duplicates_acknowledged"] += len(opened.duplicates) + len(opened.stale)
        received_us = to_us(now)
        rows = batch.registration_rows
        named: tuple[str, int] | None = None  # registrations of one uplink share a schedule
        schedule: ParsedSchedule | None = None
        accepted = opened.accepted
        if view.months is None and not any([reg.schedule_id for reg in accepted]):
            # no schedule named: nothing to reconcile, nothing to raise; rows only
            plain_rows(rec.meter_id, accepted, received_us, rows)
            view.rows += len(accepted)
            accepted = ()
        for reg in accepted:
            if named != (reg.schedule_id, reg.schedule_version):
                named = (reg.schedule_id, reg.schedule_version)
                schedule = self._schedule(*named)
            before: dict[str, int] | None = None
            if view.months is not None or (schedule is not None and schedule.tiered):
                before = self._month_before(view, reg, schedule, rows)
            row, charge, expected = registration_row(
                rec.meter_id, reg, schedule, received_us, before
            )
            rows.append(row)
            view.rows += 1
            if expected is None and reg.registers and reg.schedule_id:
                batch.alerts.append(
                    NewAlert(
                        AlertKind.SCHEDULE_UNKNOWN,
                        Severity.WARNING,
                        rec.meter_id,
                        rec.feeder or None,
                        f"registration {reg.seq} names schedule {reg.schedule_id!r} version "
                        f"{reg.schedule_version}, which is not published (or does not price "
                        "every register): its charge cannot be reconciled",
                        reg.time,
                        now,
                        f"schedule_unknown:{rec.meter_id}:{reg.seq}",
                    )
                )
            elif expected is not None and expected != charge:
                if view.mismatch is None:
                    view.mismatch = (
                        f"registration {reg.seq} is charged {charge} by the meter but "
                        f"{expected} by schedule {reg.schedule_id} v{reg.schedule_version}"
                    )
                batch.alerts.append(
                    NewAlert(
                        AlertKind.CHARGE_MISMATCH,
                        Severity.CRITICAL,
                        rec.meter_id,
                        rec.feeder or None,
                        f"registration {reg.seq}: the meter charged {charge}, the "
                        f"schedule {reg.schedule_id} v{reg.schedule_version} gives {expected}",
                        reg.time,
                        now,
                        f"mismatch:{rec.meter_id}:{reg.seq}",
                    )
                )
        if opened.accepted:
            batch.uplinks.append(
                NewUplink(
                    meter_id=rec.meter_id,
                    first_seq=opened.accepted[0].seq,
                    last_seq=opened.accepted[-1].seq,
                    received_at=now,
                    body=data,
                )
            )
        status = uplink.status
        if status is None:
            return
        for event in status.tamper_events:
            if event.kind in _POWER:
                batch.power_events.append(NewPowerEvent(rec.meter_id, rec.feeder, event.time))
                continue
            batch.alerts.append(
                NewAlert(
                    AlertKind.TAMPER,
                    _TAMPER.get(event.kind, Severity.CRITICAL),
                    rec.meter_id,
                    rec.feeder or None,
                    f"meter {rec.meter_id} reports {event.kind.name.lower().replace('_', ' ')} "
                    f"at {event.time.isoformat()}",
                    event.time,
                    now,
                    f"tamper:{rec.meter_id}:{event.kind.name}:{to_us(event.time)}",
                )
            )
        if (status.schedule_id, status.schedule_version) in unconfirmed:
            # only a delivery still waiting for its confirmation (as loaded for this batch)
            # is written; a meter that keeps reporting the schedule it holds changes nothing
            batch.confirmations.append(
                ScheduleConfirmation(rec.meter_id, status.schedule_id, status.schedule_version, now)
            )

    def _answer(
        self,
        opened: OpenedUplink,
        view: _MeterView,
        pending: dict[str, list[tuple[str, int]]],
        now: datetime,
    ) -> Downlink:
        rec = view.stored.record
        nonce = opened.uplink.nonce
        commands: list[Command] = []
        if view.stored.rollover is not None:
            commands += self.rollovers.commands(self.keys, view.stored)
        code: EnableCode | None = None
        if rec.state is MeterState.BLOCKED:
            commands.append(Command(CommandKind.BLOCK))
        elif view.mismatch is not None or view.disputed:
            # authentic but not consistent: no enable code until the operator resolves it
            # (the meter keeps its outstanding charge and its registrations queued)
            if view.stored.pending_command == "unblock":
                commands.append(Command(CommandKind.UNBLOCK))
        else:
            if view.stored.pending_command == "unblock":
                commands.append(Command(CommandKind.UNBLOCK))
            code = EnableCode(
                meter_id=rec.meter_id,
                acked_seq=view.chain.last_seq,
                nonce=nonce,
                expires=now + self.policy.enable_code_validity,
                credit_frame=self._credit_frame(rec.credit_frame),
            )
        schedules: list[ScheduleUpdate] = []
        status = opened.uplink.status
        for schedule_id, version in pending.get(rec.meter_id, []):
            if (
                status is not None
                and status.schedule_id == schedule_id
                and status.schedule_version >= version
            ):
                continue  # this very uplink confirms the meter holds it
            parsed = self._schedule(schedule_id, version)
            if parsed is None:
                continue
            schedules.append(
                ScheduleUpdate(
                    schedule_id,
                    version,
                    parsed.valid_from,
                    parsed.valid_to,
                    parsed.schedule.to_bytes(),
                )
            )
            view.sent_schedules.add((schedule_id, version))
        return Downlink(
            meter_id=rec.meter_id,
            time=now,
            nonce=nonce,
            enable_code=code,
            schedules=tuple(schedules),
            commands=tuple(commands),
        )

    def log_enable_codes(self, batch: IngestBatch, replies: list[_Reply]) -> None:
        """Add every enable code about to be sent to the batch (logged before it is sent)."""
        for reply in replies:
            down = reply.downlink
            if down is not None and down.enable_code is not None:
                ec = down.enable_code
                batch.enable_codes.append(
                    NewEnableCode(
                        ec.meter_id,
                        ec.acked_seq,
                        ec.nonce,
                        down.time,
                        ec.expires,
                        ec.credit_frame.duration,
                    )
                )

    def _month_before(
        self,
        view: _MeterView,
        reg: Registration,
        schedule: ParsedSchedule | None,
        rows: list[tuple[Any, ...]],
    ) -> dict[str, int]:
        """Each register's usage before `reg` in its billing month; moves the view's state on."""
        months = view.months
        if months is None:
            months = self._months_of(view, rows)
        zone = schedule.schedule.zone if schedule is not None else None
        month, before = months.before(reg.seq, reg.time, zone)
        view.months = months.add(
            reg.seq, reg.time, month, before, [(r.obis, r.usage) for r in reg.registers]
        )
        return before

    def _months_of(self, view: _MeterView, rows: list[tuple[Any, ...]]) -> MonthUsage:
        """The meter's month so far: stored registrations, then this batch's `rows` of it."""
        meter_id = view.stored.record.meter_id
        last = view.stored.record.last_seq
        state = self._months.get(meter_id)
        if state is None or state.seq != last:
            state = MonthUsage()
            for rec in self.store.recent_registrations(meter_id, last, REPLAY_SPAN):
                state = self._replay(
                    state,
                    rec.seq,
                    rec.time,
                    rec.schedule_id,
                    rec.schedule_version,
                    [(r.register, r.usage) for r in rec.registers],
                )
        if view.rows:  # rows of this meter already in the batch (rare: tiers start mid-batch)
            for any_row in rows:
                if any_row[_ROW_METER] == meter_id:
                    row = any_row if len(any_row) == _FULL_ROW else widen_plain(any_row)
                    state = self._replay(
                        state,
                        row[_ROW_SEQ],
                        us_to_dt(row[_ROW_TIME]),
                        row[_ROW_SCHEDULE],
                        row[_ROW_VERSION],
                        [(r.register, r.usage) for r in registers_from_json(row[_ROW_REGISTERS])],
                    )
        return state

    def _replay(
        self,
        state: MonthUsage,
        seq: int,
        time: datetime,
        schedule_id: str,
        version: int,
        used: list[tuple[str, int]],
    ) -> MonthUsage:
        parsed = self._schedule(schedule_id, version)
        month, before = state.before(
            seq, time, parsed.schedule.zone if parsed is not None else None
        )
        return state.add(seq, time, month, before, used)

    def _schedule(self, schedule_id: str, version: int) -> ParsedSchedule | None:
        key = (schedule_id, version)
        unknown: set[tuple[str, int]] = getattr(self._local, "unknown", set())
        if not schedule_id or key in unknown:
            return None
        if key not in self._schedule_cache:
            doc = self.store.get_schedule(schedule_id, version) if schedule_id else None
            parsed: ParsedSchedule | None = None
            if doc is not None:
                try:
                    parsed = parse_schedule(doc.document)
                except ScheduleError:
                    parsed = None
            if parsed is None:
                unknown.add(key)  # for this batch only: it may be published later
                return None
            self._schedule_cache[key] = parsed
        return self._schedule_cache[key]
