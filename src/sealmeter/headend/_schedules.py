"""Reading a published rate schedule document: its id, version and validity.

The tariff core owns the schedule format; the head-end needs only the identity and validity
of a version to publish and track it, plus the parsed schedule to recompute charges.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sealmeter.clock import ensure_utc
from sealmeter.headend.errors import ScheduleError

__all__ = ["ParsedSchedule", "parse_schedule"]


@dataclass(frozen=True, slots=True)
class ParsedSchedule:
    """Identity and validity of a schedule document (and the parsed tariff object)."""

    schedule_id: str
    version: int
    valid_from: datetime
    valid_to: datetime | None
    schedule: Any


def parse_schedule(document: str) -> ParsedSchedule:
    """Parse a schedule file (JSON); `ScheduleError` names the bad field."""
    try:
        doc = json.loads(document)
    except ValueError as exc:
        raise ScheduleError(f"the schedule is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ScheduleError("the schedule must be a JSON object")
    try:
        sid = str(doc["id"])
        version = int(doc["version"])
        valid_from = ensure_utc(datetime.fromisoformat(doc["valid_from"]))
        raw_to = doc.get("valid_to")
        valid_to = None if raw_to is None else ensure_utc(datetime.fromisoformat(raw_to))
    except (KeyError, TypeError, ValueError) as exc:
        raise ScheduleError(
            f"the schedule lacks or garbles a field ({exc}); it needs id, version, valid_from"
        ) from None
    return ParsedSchedule(sid, version, valid_from, valid_to, doc)
