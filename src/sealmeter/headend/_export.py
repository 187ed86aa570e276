"""Bills as CSV or JSON files, and a meter's signed uplinks as a customer export."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime

from sealmeter.headend._disclosure import content_key
from sealmeter.headend._keys import BoxKeys
from sealmeter.headend.errors import HeadEndError
from sealmeter.protocol import Suite, peek_header
from sealmeter.spreadsheet import safe_cell
from sealmeter.store import Bill, Store

__all__ = ["EXPORT_FORMAT", "bills_to_csv", "bills_to_json", "export_meter"]

EXPORT_FORMAT = "sealmeter-registrations-export/1"
CSV_HEADER = (
    "customer_ref",
    "period_start",
    "period_end",
    "line",
    "usage_wh",
    "charge",
    "currency",
    "meters",
    "registrations",
    "mismatches",
)


def bills_to_csv(bills: Sequence[Bill]) -> str:
    """One row per register line, then the standing charge and the total of each bill."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(CSV_HEADER)
    for b in bills:
        # text from operators and schedules is written so no spreadsheet runs it (a formula)
        common = (safe_cell(b.customer_ref), b.period_start.isoformat(), b.period_end.isoformat())
        tail = (b.currency, safe_cell(" ".join(b.meter_ids)), b.registrations, b.mismatches)
        for line in b.lines:
            out.writerow((*common, safe_cell(line.register), line.usage, line.charge, *tail))
        out.writerow((*common, "standing_charge", "", b.standing_charge, *tail))
        out.writerow((*common, "total", b.total_usage, b.total, *tail))
    return buf.getvalue()


def bills_to_json(bills: Sequence[Bill]) -> str:
    """The bills as a JSON list (money as strings, instants as ISO 8601)."""
    doc = [
        {
            "customer_ref": b.customer_ref,
            "meters": list(b.meter_ids),
            "period": {"start": b.period_start.isoformat(), "end": b.period_end.isoformat()},
            "currency": b.currency,
            "lines": [
                {"register": x.register, "usage_wh": x.usage, "charge": str(x.charge)}
                for x in b.lines
            ],
            "standing_charge": str(b.standing_charge),
            "total_usage_wh": b.total_usage,
            "total": str(b.total),
            "meter_total": str(b.meter_total),
            "registrations": b.registrations,
            "mismatches": b.mismatches,
        }
        for b in bills
    ]
    return json.dumps(doc, indent=2) + "\n"


def export_meter(
    store: Store,
    keys: BoxKeys,
    meter_id: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> bytes:
    """A meter's accepted uplinks, each with its disclosed content key, for `verify-bill`.

    The customer verifies each uplink's signature with the meter's public key and decrypts it
    with the disclosed per-message key (which reveals nothing about the box's private key).
    """
    stored = store.get_meter(meter_id)
    suite = Suite.from_name(stored.record.suite)
    if suite is Suite.SYMMETRIC:
        raise HeadEndError(
            f"meter {meter_id!r} uses the symmetric suite: it signs nothing a customer could "
            "verify with a public key, so there is no offline bill check for it"
        )
    private = keys.private(suite)
    previous = keys.previous.get(suite)  # uplinks sealed before a box key rollover
    uplinks = []
    for body, _disclosure, received in store.uplinks_of(meter_id, since, until):
        box = private
        if previous is not None and peek_header(body).recipient_key_id == previous.key_id:
            box = previous
        uplinks.append(
            {
                "received_at": received.isoformat(),
                "envelope": base64.b64encode(body).decode("ascii"),
                "content_key": base64.b64encode(content_key(body, box)).decode("ascii"),
            }
        )
    schedule_ids = {stored.record.schedule_id} - {None}
    schedules = [
        s.document
        for sid in sorted(x for x in schedule_ids if x)
        for s in store.list_schedules(sid)
    ]
    doc = {
        "format": EXPORT_FORMAT,
        "meter_id": meter_id,
        "suite": suite.value,
        "meter_public_keys": base64.b64encode(stored.public_keys).decode("ascii"),
        "schedules": schedules,
        "uplinks": uplinks,
    }
    return (json.dumps(doc, indent=2) + "\n").encode("utf-8")
