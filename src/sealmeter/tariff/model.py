"""The rate schedule as immutable values: bands with prices, seasons, day rules, validity.

A `RateSchedule` is pure data. It is validated on construction (every day of every season and
day type is tiled by time slots without gap or overlap, every slot names a priced band), so a
schedule that exists is a schedule that can bill. Lookups live in `calendar`; file formats in
`schema` and `urdb`; money in `money`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sealmeter.tariff.errors import ScheduleError

__all__ = [
    "MAX_PRICE_PLACES",
    "Band",
    "DayRule",
    "DayType",
    "RateSchedule",
    "Season",
    "Slot",
    "StandingCharge",
    "Tier",
]

#: Prices carry at most this many decimal places (per kWh, per day, per kW), so that a charge
#: for a whole number of mWh is an exact decimal and meter and head-end agree to the last digit.
MAX_PRICE_PLACES = 6
DAY_SECONDS = 86_400


class DayType(enum.StrEnum):
    """The kind of local calendar day a rule applies to; a listed holiday beats the weekday."""

    WORKDAY = "workday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"
    HOLIDAY = "holiday"


def check_price(value: Decimal, where: str, *, allow_zero: bool = True) -> Decimal:
    """Return `value` if it is a finite, non-negative price with few enough decimals."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ScheduleError(where, f"price {value!r} is not a finite decimal number")
    if value < 0 or (value == 0 and not allow_zero):
        raise ScheduleError(where, f"price {value} must not be negative; give a price >= 0")
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_PRICE_PLACES:
        raise ScheduleError(
            where,
            f"price {value} has more than {MAX_PRICE_PLACES} decimal places; round it "
            f"to at most {MAX_PRICE_PLACES} places",
        )
    return value


@dataclass(frozen=True)
class Tier:
    """One block of a band's price: `price` per kWh until the register's usage in the billing
    month (the local calendar month of the schedule in force) reaches `up_to_kwh` (None:
    unbounded, only allowed for the last tier)."""

    price: Decimal
    up_to_kwh: Decimal | None = None


@dataclass(frozen=True)
class Band:
    """A time band (e.g. "day", "night", "peak") with its register's OBIS code and prices."""

    name: str
    obis: str
    tiers: tuple[Tier, ...]

    @property
    def unit_price(self) -> Decimal:
        """Price per kWh of the first (for flat bands: the only) tier."""
        return self.tiers[0].price

    @property
    def tiered(self) -> bool:
        """True when the band has block prices (the price depends on usage so far)."""
        return len(self.tiers) > 1


@dataclass(frozen=True)
class Season:
    """A span of the calendar year, `start` to `end` inclusive as (month, day); may wrap."""

    name: str
    start: tuple[int, int]
    end: tuple[int, int]


@dataclass(frozen=True)
class Slot:
    """A time slot of a local day, `start_s` to `end_s` seconds after local midnight."""

    start_s: int
    end_s: int
    band: str


@dataclass(frozen=True)
class DayRule:
    """The slots of the day for the given seasons and day types (empty seasons: all)."""

    seasons: tuple[str, ...]
    days: tuple[DayType, ...]
    slots: tuple[Slot, ...]


@dataclass(frozen=True)
class StandingCharge:
    """A fixed charge of `amount` per local calendar `per` ("day" or "month"), prorated."""

    amount: Decimal = Decimal(0)
    per: str = "day"


def _utc(value: datetime, where: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ScheduleError(where, f"{value.isoformat()} has no UTC offset; add one (e.g. Z)")
    return value.astimezone(UTC)


def _all_month_days() -> list[tuple[int, int]]:
    return [
        (d.month, d.day)
        for d in (date.fromordinal(date(2024, 1, 1).toordinal() + i) for i in range(366))
    ]


@dataclass(frozen=True)
class RateSchedule:
    """A versioned time-of-use rate schedule, valid from `valid_from` until `valid_to`.

    Bands are in the schedule's local time (`timezone`, an IANA name). Construct it from a
    file or dict with `sealmeter.tariff.load_schedule` / `schedule_from_dict`, or from URDB
    with `schedule_from_urdb`; `to_bytes()` gives its canonical byte form.
    """

    id: str
    version: int
    valid_from: datetime
    timezone: str
    currency: str
    bands: tuple[Band, ...]
    rules: tuple[DayRule, ...]
    valid_to: datetime | None = None
    seasons: tuple[Season, ...] = (Season("all", (1, 1), (12, 31)),)
    holidays: tuple[date, ...] = ()
    standing_charge: StandingCharge = field(default_factory=StandingCharge)
    demand_charge_per_kw: Decimal | None = None
    name: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        """Validate the whole schedule; raise `ScheduleError` naming the first bad field."""
        _validate(self)
        object.__setattr__(self, "valid_from", _utc(self.valid_from, "valid_from"))
        if self.valid_to is not None:
            object.__setattr__(self, "valid_to", _utc(self.valid_to, "valid_to"))

    @cached_property
    def zone(self) -> ZoneInfo:
        """The schedule's time zone."""
        return ZoneInfo(self.timezone)

    def band(self, name: str) -> Band:
        """The band called `name`; `ScheduleError` if there is none."""
        for band in self.bands:
            if band.name == name:
                return band
        raise ScheduleError("bands", f"no band named {name!r}; known: {self.band_names()}")

    def register(self, obis: str) -> Band:
        """The band whose register has OBIS code `obis`; `ScheduleError` if there is none."""
        for band in self.bands:
            if band.obis == obis:
                return band
        known = [b.obis for b in self.bands]
        raise ScheduleError("bands", f"no register with OBIS code {obis!r}; known: {known}")

    def band_names(self) -> list[str]:
        """Names of the bands, in schedule order."""
        return [b.name for b in self.bands]

    def in_force_at(self, instant: datetime) -> bool:
        """True when `instant` (aware) lies in [valid_from, valid_to)."""
        when = _utc(instant, "instant")
        return self.valid_from <= when and (self.valid_to is None or when < self.valid_to)

    # Thin conveniences over the other modules, so consumers need one import.
    def to_dict(self) -> dict[str, object]:
        """The canonical dict form (JSON-ready: strings, ints, lists, dicts, None)."""
        from sealmeter.tariff.schema import schedule_to_dict

        return schedule_to_dict(self)

    def to_bytes(self) -> bytes:
        """The canonical byte form: sorted-key compact UTF-8 JSON of `to_dict()`."""
        from sealmeter.tariff.schema import schedule_to_bytes

        return schedule_to_bytes(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> RateSchedule:
        """Decode canonical bytes; `MalformedScheduleBytes` if invalid or not canonical."""
        from sealmeter.tariff.schema import schedule_from_bytes

        return schedule_from_bytes(data)

    def digest(self) -> str:
        """SHA-256 of the canonical bytes, hex; both ends compare schedules with it."""
        import hashlib

        return hashlib.sha256(self.to_bytes()).hexdigest()


def _validate(s: RateSchedule) -> None:
    if not s.id or not isinstance(s.id, str):
        raise ScheduleError("id", "must be a non-empty string naming the tariff")
    if isinstance(s.version, bool) or not isinstance(s.version, int) or s.version < 0:
        raise ScheduleError("version", f"{s.version!r} is not a non-negative integer")
    vf = _utc(s.valid_from, "valid_from")
    if s.valid_to is not None and _utc(s.valid_to, "valid_to") <= vf:
        raise ScheduleError("valid_to", "must be later than valid_from")
    try:
        ZoneInfo(s.timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ScheduleError(
            "timezone", f"unknown time zone {s.timezone!r}; use an IANA name like Europe/Berlin"
        ) from exc
    if not (isinstance(s.currency, str) and len(s.currency) == 3 and s.currency.isalpha()):
        raise ScheduleError("currency", f"{s.currency!r} is not an ISO 4217 code like EUR")
    _validate_bands(s)
    season_names = _validate_seasons(s)
    _validate_rules(s, season_names)
    check_price(s.standing_charge.amount, "standing_charge.amount")
    if s.standing_charge.per not in ("day", "month"):
        raise ScheduleError("standing_charge.per", f"{s.standing_charge.per!r}: use day or month")
    if s.demand_charge_per_kw is not None:
        check_price(s.demand_charge_per_kw, "demand_charge.price_per_kw")


def _validate_bands(s: RateSchedule) -> None:
    if not s.bands:
        raise ScheduleError("bands", "a schedule needs at least one band with a price")
    names: set[str] = set()
    codes: set[str] = set()
    for i, band in enumerate(s.bands):
        where = f"bands[{i}]"
        if not band.name:
            raise ScheduleError(f"{where}.name", "must be a non-empty string")
        if band.name in names:
            raise ScheduleError(f"{where}.name", f"band {band.name!r} is defined twice")
        names.add(band.name)
        if not _is_obis(band.obis):
            raise ScheduleError(
                f"{where}.obis", f"{band.obis!r} is not an OBIS register code like 1.8.1"
            )
        if band.obis in codes:
            raise ScheduleError(f"{where}.obis", f"register {band.obis} is used by two bands")
        codes.add(band.obis)
        if not band.tiers:
            raise ScheduleError(f"{where}.price", f"band {band.name!r} has no price")
        last: Decimal = Decimal(0)
        for j, tier in enumerate(band.tiers):
            check_price(tier.price, f"{where}.tiers[{j}].price")
            final = j == len(band.tiers) - 1
            if tier.up_to_kwh is None:
                if not final:
                    raise ScheduleError(
                        f"{where}.tiers[{j}].up_to_kwh", "only the last tier may be unbounded"
                    )
                continue
            if final:
                raise ScheduleError(
                    f"{where}.tiers[{j}].up_to_kwh", "the last tier must be unbounded (no limit)"
                )
            check_price(tier.up_to_kwh, f"{where}.tiers[{j}].up_to_kwh")
            if tier.up_to_kwh <= last:
                raise ScheduleError(
                    f"{where}.tiers[{j}].up_to_kwh", "tier limits must increase strictly"
                )
            last = tier.up_to_kwh


def _is_obis(code: object) -> bool:
    if not isinstance(code, str):
        return False
    parts = code.split(".")
    return len(parts) == 3 and all(p.isdigit() and len(p) <= 3 for p in parts)


def _validate_seasons(s: RateSchedule) -> set[str]:
    if not s.seasons:
        raise ScheduleError("seasons", "give at least one season (or leave it out for all-year)")
    owner: dict[tuple[int, int], str] = {}
    names: set[str] = set()
    days = _all_month_days()
    index = {md: k for k, md in enumerate(days)}
    for i, season in enumerate(s.seasons):
        where = f"seasons[{i}]"
        if not season.name or season.name in names:
            raise ScheduleError(f"{where}.name", f"{season.name!r} is empty or used twice")
        names.add(season.name)
        for key in ("start", "end"):
            md = getattr(season, key)
            if md not in index:
                raise ScheduleError(f"{where}.{key}", f"{md!r} is not a valid month-day")
        a, b = index[season.start], index[season.end]
        span = range(a, b + 1) if a <= b else [*range(a, 366), *range(0, b + 1)]
        for k in span:
            md = days[k]
            if md in owner:
                raise ScheduleError(
                    where,
                    f"season {season.name!r} overlaps season {owner[md]!r} on "
                    f"{md[0]:02d}-{md[1]:02d}; make the date ranges disjoint",
                )
            owner[md] = season.name
    missing = [md for md in days if md not in owner]
    if missing:
        m, d = missing[0]
        raise ScheduleError(
            "seasons", f"no season covers {m:02d}-{d:02d}; the seasons must cover the whole year"
        )
    return names


def _validate_rules(s: RateSchedule, season_names: set[str]) -> None:
    band_names = {b.name for b in s.bands}
    covered: dict[tuple[str, DayType], int] = {}
    for i, rule in enumerate(s.rules):
        where = f"rules[{i}]"
        for name in rule.seasons:
            if name not in season_names:
                raise ScheduleError(f"{where}.seasons", f"unknown season {name!r}")
        if not rule.days:
            raise ScheduleError(f"{where}.days", "list at least one day type")
        for j, slot in enumerate(rule.slots):
            if slot.band not in band_names:
                raise ScheduleError(
                    f"{where}.slots[{j}].band",
                    f"band {slot.band!r} has no price; define it under bands",
                )
        _check_tiling(rule.slots, f"{where}.slots")
        for season in rule.seasons or tuple(sorted(season_names)):
            for day in rule.days:
                if (season, day) in covered:
                    raise ScheduleError(
                        f"{where}.days",
                        f"{season}/{day.value} is already given by rules[{covered[season, day]}]",
                    )
                covered[season, day] = i
    for season in sorted(season_names):
        for day in DayType:
            if (season, day) not in covered:
                raise ScheduleError(
                    "rules", f"no rule gives the bands of a {day.value} in season {season!r}"
                )


def _check_tiling(slots: tuple[Slot, ...], where: str) -> None:
    if not slots:
        raise ScheduleError(where, "a rule needs time slots covering 00:00 to 24:00")
    ordered = sorted(slots, key=lambda sl: sl.start_s)
    at = 0
    for slot in ordered:
        if not 0 <= slot.start_s < slot.end_s <= DAY_SECONDS:
            raise ScheduleError(where, f"slot {_hm(slot.start_s)}-{_hm(slot.end_s)} is empty")
        if slot.start_s > at:
            raise ScheduleError(where, f"gap between {_hm(at)} and {_hm(slot.start_s)}")
        if slot.start_s < at:
            raise ScheduleError(
                where, f"slot starting {_hm(slot.start_s)} overlaps the slot ending {_hm(at)}"
            )
        at = slot.end_s
    if at != DAY_SECONDS:
        raise ScheduleError(where, f"gap between {_hm(at)} and 24:00")


def _hm(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")
