"""The human-writable schedule format (TOML or JSON) and the canonical byte form.

`schedule_from_dict` reads the documented dict form (see docs/tariff.md) with precise errors
naming the field; `schedule_to_dict` writes it back in canonical form; `schedule_to_bytes`
is compact sorted-key UTF-8 JSON of that form, which is what the protocol carries and both
ends hash. `schedule_from_bytes` accepts only canonical bytes.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sealmeter.tariff.errors import MalformedScheduleBytes, ScheduleError
from sealmeter.tariff.model import (
    DAY_SECONDS,
    Band,
    DayRule,
    DayType,
    RateSchedule,
    Season,
    Slot,
    StandingCharge,
    Tier,
)

__all__ = [
    "FORMAT",
    "MAX_SCHEDULE_BYTES",
    "load_schedule",
    "schedule_from_bytes",
    "schedule_from_dict",
    "schedule_to_bytes",
    "schedule_to_dict",
]

FORMAT = "sealmeter.rate-schedule/1"
MAX_SCHEDULE_BYTES = 1 << 20
_TOP_KEYS = {
    "format", "id", "version", "name", "source", "valid_from", "valid_to", "timezone",
    "currency", "holidays", "standing_charge", "demand_charge", "bands", "seasons", "rules",
}  # fmt: skip


def _get(data: Mapping[str, Any], key: str, where: str, kind: type | tuple[type, ...]) -> Any:
    if key not in data:
        raise ScheduleError(f"{where}{key}", "is missing")
    value = data[key]
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        raise ScheduleError(f"{where}{key}", f"{value!r} has the wrong type")
    return value


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ScheduleError(where, f"expected a table/object, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ScheduleError(where, f"expected a list, got {type(value).__name__}")
    return value


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise ScheduleError(where, f"{value!r} is not a number")
    try:
        result = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation as exc:
        raise ScheduleError(where, f"{value!r} is not a decimal number") from exc
    if not result.is_finite():
        raise ScheduleError(where, f"{value!r} is not a finite number")
    return result


def _instant(value: Any, where: str) -> datetime:
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ScheduleError(where, f"{value!r} is not an ISO 8601 date-time") from exc
    else:
        raise ScheduleError(where, f"{value!r} is not an ISO 8601 date-time")
    if when.tzinfo is None or when.utcoffset() is None:
        raise ScheduleError(where, f"{value!r} has no UTC offset; write e.g. ...T00:00:00Z")
    return when.astimezone(UTC)


def _month_day(value: Any, where: str) -> tuple[int, int]:
    text = str(value)
    parts = text.split("-")
    if len(parts) != 2 or not all(p.isdigit() and len(p) == 2 for p in parts):
        raise ScheduleError(where, f"{value!r} is not a month-day like 04-01")
    return int(parts[0]), int(parts[1])


def _clock(value: Any, where: str) -> int:
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(p.isdigit() and len(p) == 2 for p in parts):
        raise ScheduleError(where, f"{value!r} is not a time of day like 07:30 or 24:00")
    h, m = int(parts[0]), int(parts[1])
    s = int(parts[2]) if len(parts) == 3 else 0
    if m > 59 or s > 59 or h > 24 or (h == 24 and (m or s)):
        raise ScheduleError(where, f"{value!r} is not a time of day between 00:00 and 24:00")
    return h * 3600 + m * 60 + s


def _band(data: Any, where: str) -> Band:
    band = _mapping(data, where)
    name = _get(band, "name", f"{where}.", str)
    obis = _get(band, "obis", f"{where}.", str)
    if "price" in band and "tiers" in band:
        raise ScheduleError(f"{where}.tiers", "give either price or tiers, not both")
    if "price" in band:
        return Band(name, obis, (Tier(_decimal(band["price"], f"{where}.price")),))
    if "tiers" not in band:
        raise ScheduleError(f"{where}.price", f"band {name!r} has no price; add price = ...")
    tiers: list[Tier] = []
    for j, raw in enumerate(_list(band["tiers"], f"{where}.tiers")):
        tw = f"{where}.tiers[{j}]"
        tier = _mapping(raw, tw)
        if "price" not in tier:
            raise ScheduleError(f"{tw}.price", "is missing")
        limit = tier.get("up_to_kwh")
        tiers.append(
            Tier(
                _decimal(tier["price"], f"{tw}.price"),
                None if limit is None else _decimal(limit, f"{tw}.up_to_kwh"),
            )
        )
    return Band(name, obis, tuple(tiers))


def _rule(data: Any, where: str) -> DayRule:
    rule = _mapping(data, where)
    seasons = tuple(str(x) for x in _list(rule.get("seasons", []), f"{where}.seasons"))
    days: list[DayType] = []
    for value in _list(_get(rule, "days", f"{where}.", list), f"{where}.days"):
        try:
            days.append(DayType(value))
        except ValueError as exc:
            kinds = ", ".join(d.value for d in DayType)
            raise ScheduleError(f"{where}.days", f"{value!r} is not one of {kinds}") from exc
    slots: list[Slot] = []
    for j, raw in enumerate(_list(_get(rule, "slots", f"{where}.", list), f"{where}.slots")):
        sw = f"{where}.slots[{j}]"
        slot = _mapping(raw, sw)
        slots.append(
            Slot(
                _clock(_get(slot, "from", f"{sw}.", (str, object)), f"{sw}.from"),
                _clock(_get(slot, "to", f"{sw}.", (str, object)), f"{sw}.to"),
                _get(slot, "band", f"{sw}.", str),
            )
        )
    return DayRule(seasons, tuple(days), tuple(slots))


def schedule_from_dict(data: Mapping[str, Any]) -> RateSchedule:
    """Build and validate a schedule from the documented dict form; `ScheduleError` if bad."""
    data = _mapping(data, "(schedule)")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ScheduleError(unknown[0], f"unknown field; known fields: {sorted(_TOP_KEYS)}")
    if data.get("format", FORMAT) != FORMAT:
        raise ScheduleError("format", f"{data.get('format')!r} is not {FORMAT!r}")
    version = _get(data, "version", "", int)
    valid_to = data.get("valid_to")
    seasons: tuple[Season, ...] = (Season("all", (1, 1), (12, 31)),)
    if data.get("seasons") is not None:
        seasons = tuple(
            Season(
                _get(_mapping(raw, f"seasons[{i}]"), "name", f"seasons[{i}].", str),
                _month_day(_get(raw, "from", f"seasons[{i}].", str), f"seasons[{i}].from"),
                _month_day(_get(raw, "to", f"seasons[{i}].", str), f"seasons[{i}].to"),
            )
            for i, raw in enumerate(_list(data["seasons"], "seasons"))
        )
    holidays: list[date] = []
    for i, raw in enumerate(_list(data.get("holidays", []), "holidays")):
        try:
            holidays.append(raw if isinstance(raw, date) else date.fromisoformat(str(raw)))
        except ValueError as exc:
            raise ScheduleError(f"holidays[{i}]", f"{raw!r} is not a date like 2026-12-25") from exc
    standing = StandingCharge()
    if data.get("standing_charge") is not None:
        sc = _mapping(data["standing_charge"], "standing_charge")
        standing = StandingCharge(
            _decimal(_get(sc, "amount", "standing_charge.", object), "standing_charge.amount"),
            str(sc.get("per", "day")),
        )
    demand = None
    if data.get("demand_charge") is not None:
        dc = _mapping(data["demand_charge"], "demand_charge")
        demand = _decimal(
            _get(dc, "price_per_kw", "demand_charge.", object), "demand_charge.price_per_kw"
        )
    return RateSchedule(
        id=_get(data, "id", "", str),
        version=version,
        valid_from=_instant(_get(data, "valid_from", "", (str, datetime)), "valid_from"),
        valid_to=None if valid_to is None else _instant(valid_to, "valid_to"),
        timezone=_get(data, "timezone", "", str),
        currency=_get(data, "currency", "", str),
        bands=tuple(
            _band(b, f"bands[{i}]") for i, b in enumerate(_list(data.get("bands"), "bands"))
        ),
        rules=tuple(
            _rule(r, f"rules[{i}]") for i, r in enumerate(_list(data.get("rules"), "rules"))
        ),
        seasons=seasons,
        holidays=tuple(sorted(set(holidays))),
        standing_charge=standing,
        demand_charge_per_kw=demand,
        name=str(data.get("name", "")),
        source=str(data.get("source", "")),
    )


def _num(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _md(month_day: tuple[int, int]) -> str:
    return f"{month_day[0]:02d}-{month_day[1]:02d}"


def _hms(seconds: int) -> str:
    if seconds == DAY_SECONDS:
        return "24:00"
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")


def schedule_to_dict(schedule: RateSchedule) -> dict[str, Any]:
    """The canonical dict form of `schedule` (every field present, decimals as strings)."""
    bands: list[dict[str, Any]] = []
    for band in schedule.bands:
        entry: dict[str, Any] = {"name": band.name, "obis": band.obis}
        if band.tiered:
            entry["tiers"] = [
                {"price": _num(t.price)}
                | ({} if t.up_to_kwh is None else {"up_to_kwh": _num(t.up_to_kwh)})
                for t in band.tiers
            ]
        else:
            entry["price"] = _num(band.unit_price)
        bands.append(entry)
    return {
        "format": FORMAT,
        "id": schedule.id,
        "version": schedule.version,
        "name": schedule.name,
        "source": schedule.source,
        "valid_from": _iso(schedule.valid_from),
        "valid_to": None if schedule.valid_to is None else _iso(schedule.valid_to),
        "timezone": schedule.timezone,
        "currency": schedule.currency,
        "holidays": [d.isoformat() for d in schedule.holidays],
        "standing_charge": {
            "amount": _num(schedule.standing_charge.amount),
            "per": schedule.standing_charge.per,
        },
        "demand_charge": None
        if schedule.demand_charge_per_kw is None
        else {"price_per_kw": _num(schedule.demand_charge_per_kw)},
        "bands": bands,
        "seasons": [
            {"name": s.name, "from": _md(s.start), "to": _md(s.end)} for s in schedule.seasons
        ],
        "rules": [
            {
                "seasons": list(r.seasons),
                "days": [d.value for d in r.days],
                "slots": [
                    {"from": _hms(sl.start_s), "to": _hms(sl.end_s), "band": sl.band}
                    for sl in r.slots
                ],
            }
            for r in schedule.rules
        ],
    }


def schedule_to_bytes(schedule: RateSchedule) -> bytes:
    """Canonical bytes: compact, sorted-key, ASCII-only JSON of `schedule_to_dict`."""
    text = json.dumps(
        schedule_to_dict(schedule), sort_keys=True, separators=(",", ":"), ensure_ascii=True
    )
    return text.encode("ascii")


def schedule_from_bytes(data: bytes) -> RateSchedule:
    """Decode canonical schedule bytes; anything else raises `MalformedScheduleBytes`."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MalformedScheduleBytes(f"expected bytes, got {type(data).__name__}")
    raw = bytes(data)
    if len(raw) > MAX_SCHEDULE_BYTES:
        raise MalformedScheduleBytes(f"schedule of {len(raw)} bytes exceeds {MAX_SCHEDULE_BYTES}")
    try:
        parsed = json.loads(raw.decode("ascii"), parse_float=Decimal, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedScheduleBytes(f"schedule bytes are not ASCII JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise MalformedScheduleBytes("schedule bytes must hold a JSON object")
    try:
        schedule = schedule_from_dict(parsed)
    except ScheduleError as exc:
        raise MalformedScheduleBytes(f"invalid schedule: {exc}") from exc
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise MalformedScheduleBytes(f"invalid schedule structure: {exc}") from exc
    if schedule_to_bytes(schedule) != raw:
        raise MalformedScheduleBytes(
            "schedule bytes are valid but not canonical (sorted keys, compact, normalised "
            "numbers); re-encode with RateSchedule.to_bytes()"
        )
    return schedule


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def load_schedule(path: str | Path) -> RateSchedule:
    """Load a schedule file: `.toml` as TOML, anything else as JSON; errors name the field."""
    file = Path(path)
    try:
        text = file.read_bytes()
    except OSError as exc:
        raise ScheduleError("(file)", f"cannot read {file}: {exc.strerror}") from exc
    try:
        if file.suffix.lower() == ".toml":
            data = tomllib.loads(text.decode("utf-8"), parse_float=Decimal)
        else:
            data = json.loads(text.decode("utf-8"), parse_float=Decimal)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ScheduleError("(file)", f"{file} is not valid TOML/JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ScheduleError("(file)", f"{file} must hold one table/object")
    return schedule_from_dict(data)
