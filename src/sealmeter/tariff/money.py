"""Money: the one function that turns usage into a charge, and the one rounding rule.

No float ever touches money. A charge is energy times price, computed exactly:

- `segment_charge(schedule, obis, energy_wh, used_before_wh)` is the single source of truth
  for the charge of usage inside one constant-price segment (the meter's registration F and
  the head-end's recomputation call it with the same arguments and get the same `Decimal`).
  It is exact, not rounded: energy with at most 3 decimals (whole mWh) times a price with at
  most 6 decimals per kWh is a decimal with at most 12 places.
- Block (tiered) prices depend on the register's usage earlier in the billing period, given as
  `used_before_wh`; a segment that crosses a tier limit is charged at both prices.
- `round_money` rounds a bill line to the currency's minor unit, half up (commercial rounding:
  0.005 -> 0.01). A bill rounds each line once (each register, the standing charge, the
  demand charge) and its total is the sum of the rounded lines.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from sealmeter.tariff.errors import UsageDataError
from sealmeter.tariff.model import Band, RateSchedule

__all__ = [
    "MINOR_UNITS",
    "exact_decimal",
    "minor_unit_places",
    "round_money",
    "segment_charge",
    "tiered_charge",
]

#: Decimal places of a currency's minor unit (ISO 4217); others default to 2.
MINOR_UNITS = {"JPY": 0, "KRW": 0, "ISK": 0, "BHD": 3, "KWD": 3, "JOD": 3, "OMR": 3, "TND": 3}


def minor_unit_places(currency: str) -> int:
    """Decimal places bills in `currency` are rounded to (2 unless ISO 4217 says otherwise)."""
    return MINOR_UNITS.get(currency.upper(), 2)


def _fraction(value: int | Decimal | Fraction, what: str) -> Fraction:
    if isinstance(value, bool):
        raise UsageDataError(f"{what} must be a number, not {value!r}")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise UsageDataError(f"{what} {value} is not a finite number")
        return Fraction(value)
    if isinstance(value, (int, Fraction)):
        return Fraction(value)
    raise UsageDataError(f"{what} must be int, Decimal or Fraction (never float), not {value!r}")


def tiered_charge(band: Band, energy_wh: Fraction, used_before_wh: Fraction) -> Fraction:
    """Exact charge for `energy_wh` in `band` when `used_before_wh` were used before in the
    billing period; each part is charged at the tier it falls in."""
    charge = Fraction(0)
    at = used_before_wh
    left = energy_wh
    for tier in band.tiers:
        if left <= 0:
            break
        if tier.up_to_kwh is None:
            take = left
        else:
            limit = Fraction(tier.up_to_kwh) * 1000
            take = min(left, max(Fraction(0), limit - at))
        charge += take * Fraction(tier.price) / 1000
        at += take
        left -= take
    return charge


def exact_decimal(value: Fraction) -> Decimal:
    """`value` as an exact Decimal; `ValueError` if it has no finite decimal expansion."""
    den = value.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        raise ValueError(f"{value} has no finite decimal expansion")
    places = max(twos, fives)
    scaled = value.numerator * 10**places // value.denominator
    return Decimal(scaled).scaleb(-places)


def segment_charge(
    schedule: RateSchedule,
    obis: str,
    energy_wh: int | Decimal,
    used_before_wh: int | Decimal = 0,
) -> Decimal:
    """Exact charge for `energy_wh` (>= 0, at most 3 decimals) on register `obis` of
    `schedule` within one constant-price segment; see the module doc for tiers."""
    band = schedule.register(obis)
    if type(energy_wh) is int and type(used_before_wh) is int and energy_wh >= 0:
        fast = _integer_tiers(band)
        if fast is not None and used_before_wh >= 0:
            return _integer_charge(fast, energy_wh, used_before_wh)
    energy = _fraction(energy_wh, "energy_wh")
    before = _fraction(used_before_wh, "used_before_wh")
    for name, value in (("energy_wh", energy), ("used_before_wh", before)):
        if value < 0:
            raise UsageDataError(f"{name} {value} is negative; usage is never negative")
        if (value * 1000).denominator != 1:
            raise UsageDataError(
                f"{name} {float(value)} has more than 3 decimals; meter usage in whole mWh"
            )
    return exact_decimal(tiered_charge(band, energy, before))


_IntegerTiers = tuple[int, tuple[tuple[int | None, int], ...]]
_PREPARED: dict[int, tuple[Band, _IntegerTiers | None]] = {}


def _integer_tiers(band: Band) -> _IntegerTiers | None:
    """`band`'s tiers as integers (limits in Wh, prices in 10**-places per kWh), or None when a
    limit is not a whole Wh (then the exact `Fraction` path is taken). Cached per band."""
    held = _PREPARED.get(id(band))
    if held is not None and held[0] is band:
        return held[1]
    places = 0
    for tier in band.tiers:
        exponent = tier.price.as_tuple().exponent
        if not isinstance(exponent, int) or not tier.price.is_finite():
            places = -1
            break
        places = max(places, -exponent)
    prepared: _IntegerTiers | None = None
    if places >= 0:
        tiers: list[tuple[int | None, int]] = []
        for tier in band.tiers:
            price = Fraction(tier.price) * 10**places
            limit = None if tier.up_to_kwh is None else Fraction(tier.up_to_kwh) * 1000
            if price.denominator != 1 or (limit is not None and limit.denominator != 1):
                break
            tiers.append((None if limit is None else int(limit), int(price)))
        else:
            prepared = (places, tuple(tiers))
    if len(_PREPARED) > 4096:
        _PREPARED.clear()
    _PREPARED[id(band)] = (band, prepared)
    return prepared


def _integer_charge(prepared: _IntegerTiers, energy_wh: int, used_before_wh: int) -> Decimal:
    """`tiered_charge` + `exact_decimal` in integers: the same `Decimal`, digit for digit."""
    places, tiers = prepared
    scaled = 0  # in 10**-(places + 3) of the currency
    at = used_before_wh
    left = energy_wh
    for limit, price in tiers:
        if left <= 0:
            break
        take = left if limit is None else min(left, max(0, limit - at))
        scaled += take * price
        at += take
        left -= take
    exponent = places + 3
    while exponent and scaled % 10 == 0:
        scaled //= 10
        exponent -= 1
    return Decimal(scaled).scaleb(-exponent)


def round_money(amount: Fraction | Decimal | int, currency: str) -> Decimal:
    """Round `amount` to `currency`'s minor unit, half away from zero (commercial rounding)."""
    places = minor_unit_places(currency)
    value = Fraction(amount)
    scaled = value * 10**places
    sign = -1 if scaled < 0 else 1
    whole, rest = divmod(abs(scaled.numerator), scaled.denominator)
    if 2 * rest >= scaled.denominator:
        whole += 1
    return Decimal(sign * whole).scaleb(-places).quantize(Decimal(1).scaleb(-places))
