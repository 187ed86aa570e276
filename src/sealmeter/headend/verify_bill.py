"""The customer's offline bill check (as Eichrecht transparency software does for chargers).

Input: an export of a meter's uplinks (`sealmeter headend export`) and the meter's public
keys, obtained independently (printed on the meter, or from the utility's letter). Every
uplink's signature is verified with the meter's key (after a key renewal, with the new key
the meter announced and its old key endorsed), it is decrypted with its disclosed
per-message key, the registrations are checked to run without gaps or conflicts, and every
charge is recomputed with the tariff core from the published schedule. No head-end needed.
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from sealmeter.errors import SealmeterError
from sealmeter.headend._disclosure import EnvelopeParts, open_disclosed, split_envelope
from sealmeter.headend._tiers import MonthUsage
from sealmeter.headend.errors import HeadEndError
from sealmeter.protocol import (
    DecryptionFailed,
    ProtocolPeerError,
    ProtocolUsageError,
    PublicKeys,
    Registration,
    Suite,
    WrongSender,
    decode_announcement,
    decode_uplink,
    verify_announcement,
)
from sealmeter.store import BillLine
from sealmeter.tariff import RateSchedule, TariffError, round_money, segment_charge

__all__ = ["BillCheck", "verify_export"]


def _open_following(
    envelope: bytes, key: bytes, meter: PublicKeys, meter_id: str
) -> tuple[bytes, PublicKeys]:
    """Open one disclosed uplink with the meter's key in use, following a key renewal.

    An uplink signed by another key is accepted only if it carries the meter's announcement of
    that key, endorsed by the key in use (docs/protocol.md, "Key rollover"); later uplinks are
    then checked with the announced key.
    """
    parts = split_envelope(envelope)
    if parts.header.sender_key_id == meter.key_id:
        return open_disclosed(envelope, key, meter), meter
    # read the announcement with the disclosed key; nothing in it counts until verified
    unverified = _decrypt_unverified(parts, key)
    announced = decode_uplink(unverified).key_announcement
    if not announced:
        raise WrongSender("the uplink is signed by another key than the meter's and announces none")
    ann = decode_announcement(announced)
    new = verify_announcement(ann, meter_id=meter_id, old=meter, epoch=ann.epoch)
    return open_disclosed(envelope, key, new), new


def _decrypt_unverified(parts: EnvelopeParts, key: bytes) -> bytes:
    try:  # a disclosed key of the wrong length is refused by the AEAD's constructor
        aead = ChaCha20Poly1305(key) if parts.header.suite is Suite.EC_MODERN else AESGCM(key)
        plain: bytes = aead.decrypt(parts.nonce, parts.ciphertext, parts.associated)
    except (InvalidTag, ValueError):
        raise DecryptionFailed("the disclosed key does not open this uplink") from None
    return plain


@dataclass(frozen=True)
class BillCheck:
    """What the offline check found: the recomputed bill and every problem."""

    meter_id: str
    uplinks: int
    registrations: int
    first_seq: int | None
    last_seq: int | None
    lines: tuple[BillLine, ...]
    total: Decimal  # recomputed from the published schedule, lines rounded once
    meter_total: Decimal  # what the meter charged, rounded the same way
    currency: str
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when every uplink verified and every charge matched."""
        return not self.problems

    def summary(self) -> str:
        """A human-readable report."""
        seqs = "-" if self.first_seq is None else f"{self.first_seq}..{self.last_seq}"
        out = [
            f"meter {self.meter_id}: {self.uplinks} signed uplinks verified, "
            f"{self.registrations} registrations (seq {seqs})",
        ]
        for line in self.lines:
            out.append(
                f"  {line.register:<10} {line.usage:>12} Wh  {line.charge:>12} {self.currency}"
            )
        out.append(
            f"  recomputed total {self.total} {self.currency}; the meter charged "
            f"{self.meter_total} {self.currency}"
        )
        out.extend(f"  warning: {w}" for w in self.warnings)
        out.extend(f"  PROBLEM: {p}" for p in self.problems)
        out.append("bill verified" if self.ok else "bill NOT verified")
        return "\n".join(out)


def _schedules_of(docs: Sequence[str]) -> list[RateSchedule]:
    out = []
    for doc in docs:
        try:
            out.append(RateSchedule.from_bytes(doc.encode("ascii")))
        except (SealmeterError, UnicodeEncodeError) as exc:  # usage or malformed bytes
            raise HeadEndError(f"a schedule in the export is invalid: {exc}") from None
    return out


def verify_export(
    data: bytes,
    *,
    public_keys: bytes | None = None,
    schedules: Sequence[RateSchedule] | None = None,
) -> BillCheck:
    """Verify an export and recompute the bill; `HeadEndError` if the file is unusable."""
    try:
        doc = json.loads(data.decode("utf-8"))
        if doc.get("format") != "sealmeter-registrations-export/1":
            raise ValueError(f"format {doc.get('format')!r}")
        meter_id = str(doc["meter_id"])
        exported_keys = base64.b64decode(doc["meter_public_keys"])
        uplinks = [
            (base64.b64decode(u["envelope"]), base64.b64decode(u["content_key"]))
            for u in doc["uplinks"]
        ]
        docs = [str(s) for s in doc.get("schedules", [])]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise HeadEndError(
            f"not a sealmeter registrations export ({exc}); export it with "
            "`sealmeter headend export`"
        ) from None
    problems: list[str] = []
    warnings: list[str] = []
    if public_keys is None:
        public_keys = exported_keys
        warnings.append(
            "the meter's public key was taken from the export itself; pass --public-key with "
            "the key obtained independently for a real check"
        )
    elif public_keys != exported_keys:
        warnings.append("the export names other public keys than yours; yours were used")
    try:
        meter = PublicKeys.from_bytes(public_keys)
    except ProtocolUsageError as exc:
        raise HeadEndError(f"the meter's public key is unusable: {exc}") from None
    tariffs = list(schedules) if schedules else _schedules_of(docs)
    regs: dict[int, Registration] = {}
    for i, (envelope, key) in enumerate(uplinks):
        try:
            plain, meter = _open_following(envelope, key, meter, meter_id)
            uplink = decode_uplink(plain)
        except ProtocolPeerError as exc:
            problems.append(f"uplink {i}: {exc}")
            continue
        if uplink.meter_id != meter_id:
            problems.append(f"uplink {i} belongs to meter {uplink.meter_id!r}")
            continue
        for reg in uplink.registrations:
            seen = regs.get(reg.seq)
            if seen is not None and seen != reg:
                problems.append(f"registration {reg.seq} appears twice with different content")
            regs[reg.seq] = reg
    seqs = sorted(regs)
    missing = [s for s in range(seqs[0], seqs[-1] + 1) if s not in regs] if seqs else []
    if missing:
        problems.append(f"registrations missing from the export: {missing[:10]}")
    usage: dict[str, int] = defaultdict(int)
    charge: dict[str, Decimal] = defaultdict(Decimal)
    meter_charge = Decimal(0)
    currency = tariffs[0].currency if tariffs else "EUR"
    by_version = {(t.id, t.version): t for t in tariffs}
    months = MonthUsage(seqs[0] - 1 if seqs else 0)  # tiers: the month so far (see _tiers)
    if seqs and seqs[0] > 1 and any(b.tiered for t in tariffs for b in t.bands):
        warnings.append(
            f"the export starts at registration {seqs[0]}: tiered prices of its first month "
            "are recomputed as if nothing was used before it"
        )
    for seq in seqs:
        reg = regs[seq]
        tariff = by_version.get((reg.schedule_id, reg.schedule_version))
        month, before = months.before(seq, reg.time, tariff.zone if tariff else None)
        months = months.add(
            seq, reg.time, month, before, [(r.obis, r.usage) for r in reg.registers]
        )
        for r in reg.registers:
            usage[r.obis] += r.usage
            meter_charge += r.charge
            if tariff is None:
                problems.append(
                    f"registration {seq} names schedule {reg.schedule_id!r} "
                    f"v{reg.schedule_version}, which was not given: cannot recompute"
                )
                charge[r.obis] += r.charge
                continue
            try:
                expected = segment_charge(tariff, r.obis, r.usage, before.get(r.obis, 0))
            except TariffError as exc:
                problems.append(f"registration {seq}: {exc}")
                continue
            charge[r.obis] += expected
            if expected != r.charge:
                problems.append(
                    f"registration {seq} register {r.obis}: the meter charged {r.charge}, "
                    f"the schedule gives {expected}"
                )
    lines = tuple(BillLine(k, usage[k], round_money(charge[k], currency)) for k in sorted(usage))
    return BillCheck(
        meter_id=meter_id,
        uplinks=len(uplinks),
        registrations=len(regs),
        first_seq=seqs[0] if seqs else None,
        last_seq=seqs[-1] if seqs else None,
        lines=lines,
        total=sum((x.charge for x in lines), Decimal(0)),
        meter_total=round_money(meter_charge, currency),
        currency=currency,
        problems=tuple(dict.fromkeys(problems)),
        warnings=tuple(warnings),
    )
