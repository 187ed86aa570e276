"""Reading a rate schedule document for publication: the tariff core parses and validates it.

Operators publish the human-written schedule file (TOML or JSON, the tariff core's format).
The head-end keeps the canonical bytes (`RateSchedule.to_bytes()`): that is what it sends to
meters in a schedule update and what it recomputes charges with.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sealmeter.headend.errors import ScheduleError
from sealmeter.tariff import RateSchedule, TariffError, schedule_from_dict

__all__ = ["ParsedSchedule", "parse_schedule", "parse_stored_schedule"]


@dataclass(frozen=True, slots=True)
class ParsedSchedule:
    """A validated schedule with its identity and validity."""

    schedule: RateSchedule
    tiered: bool = False  # some band has block prices: charges depend on the month so far

    def __post_init__(self) -> None:
        """Note whether any band is tiered."""
        object.__setattr__(self, "tiered", any(b.tiered for b in self.schedule.bands))

    @property
    def schedule_id(self) -> str:
        """The schedule's id."""
        return self.schedule.id

    @property
    def version(self) -> int:
        """The schedule's version."""
        return self.schedule.version

    @property
    def valid_from(self) -> datetime:
        """Start of validity (UTC)."""
        return self.schedule.valid_from

    @property
    def valid_to(self) -> datetime | None:
        """End of validity (UTC), or None for open-ended."""
        return self.schedule.valid_to

    @property
    def canonical(self) -> str:
        """The canonical JSON text (what is stored and sent)."""
        return self.schedule.to_bytes().decode("ascii")


def parse_schedule(document: str) -> ParsedSchedule:
    """Parse a schedule file's text (JSON, or TOML); `ScheduleError` names the bad field."""
    text = document.strip()
    try:
        data = json.loads(text) if text.startswith("{") else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ScheduleError(f"the schedule is neither valid JSON nor TOML: {exc}") from None
    if not isinstance(data, dict):
        raise ScheduleError("the schedule must be a JSON object or a TOML table")
    try:
        return ParsedSchedule(schedule_from_dict(data))
    except TariffError as exc:
        raise ScheduleError(f"the schedule is invalid: {exc}") from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ScheduleError(f"the schedule is malformed: {exc}") from None


@lru_cache(maxsize=256)
def parse_stored_schedule(document: str) -> ParsedSchedule:
    """`parse_schedule` of a stored document, remembered by its text (bills ask for the same
    few schedules once per customer; a `ParsedSchedule` is immutable, so sharing it is safe).
    A document that fails to parse is not remembered: every call raises again."""
    return parse_schedule(document)
