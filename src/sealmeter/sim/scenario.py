"""Scenarios as data: TOML files naming the fleet and everything that goes wrong in it.

The project ships `normal`, `outages`, `tamper`, `network`, `attacks`, `crash` and `all`
(package data in `sealmeter/sim/scenarios/`); `load_scenario` also takes a path to your own
file. A scenario may `include` others: their event lists are concatenated, their network fault
probabilities added, and the including file's own `[fleet]` keys win. See docs/sim.md.
"""

from __future__ import annotations

import enum
import math
import tomllib
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from sealmeter.sim.errors import ScenarioError
from sealmeter.transport import FaultPlan, TransportConfigError

__all__ = [
    "AttackKind",
    "AttackSpec",
    "CrashPoint",
    "CrashSpec",
    "FleetSpec",
    "NetworkOutage",
    "PowerOutage",
    "Scenario",
    "TamperAct",
    "TamperSpec",
    "list_scenarios",
    "load_scenario",
    "parse_scenario",
]


class TamperAct(enum.Enum):
    """A physical attack on a meter."""

    HOUSING_OPENED = "housing_opened"
    LOOP_BROKEN = "loop_broken"
    BYPASS = "bypass"
    REMOVED = "removed"


class AttackKind(enum.Enum):
    """A deliberate attack the simulator mounts at a scheduled day (besides the link's MITM)."""

    REPLAY_UPLINK = "replay_uplink"
    MODIFY_UPLINK = "modify_uplink"
    REPLAY_DOWNLINK = "replay_downlink"
    FORGED_ENABLE_CODE = "forged_enable_code"
    CLONED_METER = "cloned_meter"
    CLOCK_ROLLBACK = "clock_rollback"
    SUITE_DOWNGRADE = "suite_downgrade"


class CrashPoint(enum.Enum):
    """Where in a batch of uplinks the head-end dies."""

    BEFORE_COMMIT = "before_commit"
    AFTER_COMMIT = "after_commit"


@dataclass(frozen=True)
class FleetSpec:
    """The fleet: size, run length, start, resolution, calling pattern, load and tariff mix.

    `profiles` are metering load-profile kinds (H25, G25, L25, H0, G0, L0, ...), `tariffs` the
    shipped real tariffs, each with a share; `unit_wh` is the energy of one counter unit.
    """

    meters: int = 50
    days: int = 90
    start: date = date(2026, 1, 1)
    interval_minutes: int = 15
    call_interval_hours: float = 24.0
    credit_frame_days: float = 7.0
    feeders: int = 5
    annual_kwh: tuple[float, float] = (1500.0, 6000.0)
    profiles: dict[str, float] = field(default_factory=lambda: {"h0": 1.0})
    tariffs: dict[str, float] = field(
        default_factory=lambda: {
            "de-neustadt-donau-ht-nt": 1.0,
            "uk-e7-eon-next-flex": 1.0,
            "us-wi-river-falls-tod": 1.0,
        }
    )
    unit_wh: int = 10


@dataclass(frozen=True)
class PowerOutage:
    """`feeders` feeders lose power at `day` (from midnight + hour 10) for `hours`."""

    day: int
    hours: float
    feeders: int


@dataclass(frozen=True)
class NetworkOutage:
    """The links of `meters` meters (a share if < 1, else a count) are down for `days` days."""

    day: int
    days: float
    meters: float


@dataclass(frozen=True)
class TamperSpec:
    """`meters` meters suffer `kind` on `day`."""

    day: int
    kind: TamperAct
    meters: int


@dataclass(frozen=True)
class AttackSpec:
    """`count` attacks of `kind` are mounted on `day`."""

    day: int
    kind: AttackKind
    count: int


@dataclass(frozen=True)
class CrashSpec:
    """The head-end is killed on `day` at `point` of a batch, then restarted."""

    day: int
    point: CrashPoint


@dataclass(frozen=True)
class Scenario:
    """A loaded scenario: fleet, link fault plan, and the scheduled events."""

    name: str
    description: str
    fleet: FleetSpec
    network: FaultPlan
    network_table: dict[str, float]
    power_outages: tuple[PowerOutage, ...] = ()
    network_outages: tuple[NetworkOutage, ...] = ()
    tamper: tuple[TamperSpec, ...] = ()
    attacks: tuple[AttackSpec, ...] = ()
    crashes: tuple[CrashSpec, ...] = ()


_SECTIONS = {
    "name",
    "description",
    "include",
    "fleet",
    "network",
    "power_outages",
    "network_outages",
    "tamper",
    "attacks",
    "crashes",
}


def list_scenarios() -> list[str]:
    """Names of the scenarios shipped with sealmeter."""
    folder = resources.files("sealmeter.sim") / "scenarios"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def _read_shipped(name: str) -> str:
    if name not in list_scenarios():
        raise ScenarioError(
            f"no scenario named {name!r}; choose one of {', '.join(list_scenarios())} "
            "or give a path to a .toml file"
        )
    return (resources.files("sealmeter.sim") / "scenarios" / f"{name}.toml").read_text("utf-8")


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a shipped scenario by name, or a scenario file by path."""
    text = str(name_or_path)
    if text.endswith(".toml") or "/" in text or isinstance(name_or_path, Path):
        path = Path(name_or_path)
        try:
            source = path.read_text("utf-8")
        except OSError as exc:
            raise ScenarioError(f"cannot read scenario file {path}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise ScenarioError(
                f"scenario file {path} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                "save it as UTF-8"
            ) from None
        return parse_scenario(source, origin=str(path))
    return parse_scenario(_read_shipped(text), origin=text)


def parse_scenario(source: str, origin: str = "<text>", _seen: tuple[str, ...] = ()) -> Scenario:
    """Parse scenario TOML text (`origin` names it in errors); resolve its includes."""
    try:
        doc = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"scenario {origin} is not valid TOML: {exc}") from None
    unknown = set(doc) - _SECTIONS
    if unknown:
        raise ScenarioError(
            f"scenario {origin}: unknown key(s) {sorted(unknown)}; known: {sorted(_SECTIONS)}"
        )
    name = _get(doc, "name", str, origin, default=Path(origin).stem)
    parts: list[Scenario] = []
    includes = _get(doc, "include", list, origin, default=[])
    for inc in includes:
        if not isinstance(inc, str):
            raise ScenarioError(f"scenario {origin}: include entries must be scenario names")
        if inc in _seen or inc == name:
            raise ScenarioError(f"scenario {origin}: include cycle through {inc!r}")
        parts.append(parse_scenario(_read_shipped(inc), inc, (*_seen, name)))
    fleet_table: dict[str, Any] = {}
    for part in parts[:1]:
        fleet_table.update(_fleet_as_table(part.fleet))
    own_fleet = _get(doc, "fleet", dict, origin, default={})
    fleet_table.update(own_fleet)
    network: dict[str, float] = {}
    for part in parts:
        for key, value in part.network_table.items():
            if key.startswith(("delay_", "max_")):
                network[key] = max(network.get(key, 0.0), value)
            else:
                network[key] = network.get(key, 0.0) + value
    for key, value in _get(doc, "network", dict, origin, default={}).items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ScenarioError(f"scenario {origin}: network.{key} must be a number")
        if not math.isfinite(value) or abs(value) > 1e12:
            raise ScenarioError(
                f"scenario {origin}: network.{key} = {value!r} is not a usable number; give a "
                "finite one (probabilities in [0, 1], seconds, a count of bit flips)"
            )
        network[key] = float(value)
    try:
        plan = FaultPlan.from_mapping(
            {k: (int(v) if k == "max_bit_flips" else v) for k, v in network.items()}
        )
    except TransportConfigError as exc:
        raise ScenarioError(f"scenario {origin}: [network] {exc}") from None
    return Scenario(
        name=name,
        description=_get(doc, "description", str, origin, default=""),
        fleet=_fleet(fleet_table, origin),
        network=plan,
        network_table=network,
        power_outages=_merge(parts, "power_outages")
        + tuple(_power(t, origin) for t in _tables(doc, "power_outages", origin)),
        network_outages=_merge(parts, "network_outages")
        + tuple(_netout(t, origin) for t in _tables(doc, "network_outages", origin)),
        tamper=_merge(parts, "tamper")
        + tuple(_tamper(t, origin) for t in _tables(doc, "tamper", origin)),
        attacks=_merge(parts, "attacks")
        + tuple(_attack(t, origin) for t in _tables(doc, "attacks", origin)),
        crashes=_merge(parts, "crashes")
        + tuple(_crash(t, origin) for t in _tables(doc, "crashes", origin)),
    )


def _merge(parts: list[Scenario], attr: str) -> tuple[Any, ...]:
    out: tuple[Any, ...] = ()
    for part in parts:
        out += getattr(part, attr)
    return out


def _get(doc: dict[str, Any], key: str, kind: type, origin: str, *, default: Any) -> Any:
    value = doc.get(key, default)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ScenarioError(f"scenario {origin}: {key!r} must be a {kind.__name__}, got {value!r}")
    return value


def _number(doc: dict[str, Any], key: str, origin: str, default: float, low: float) -> float:
    value = doc.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or value < low:
        raise ScenarioError(f"scenario {origin}: {key!r} must be a number >= {low}, got {value!r}")
    return float(value)


def _int(doc: dict[str, Any], key: str, origin: str, default: int | None, low: int) -> int:
    if key not in doc and default is None:
        raise ScenarioError(f"scenario {origin}: {key!r} is required")
    value = doc.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ScenarioError(
            f"scenario {origin}: {key!r} must be an integer >= {low}, got {value!r}"
        )
    return value


def _tables(doc: dict[str, Any], key: str, origin: str) -> list[dict[str, Any]]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise ScenarioError(f"scenario {origin}: {key!r} must be an array of tables [[{key}]]")
    return value


def _only(table: dict[str, Any], keys: set[str], where: str) -> None:
    extra = set(table) - keys
    if extra:
        raise ScenarioError(
            f"scenario {where}: unknown key(s) {sorted(extra)}; known {sorted(keys)}"
        )


def _enum(kind: type[enum.Enum], value: Any, where: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(m.value for m in kind)
        raise ScenarioError(f"scenario {where}: {value!r} is not one of {choices}") from None


def _mix(value: Any, where: str) -> dict[str, float]:
    if not isinstance(value, dict) or not value:
        raise ScenarioError(f"scenario {where} must be a non-empty table of name = share")
    out: dict[str, float] = {}
    for name, share in value.items():
        if not isinstance(share, int | float) or isinstance(share, bool) or share <= 0:
            raise ScenarioError(f"scenario {where}.{name} must be a positive share")
        out[str(name)] = float(share)
    return out


def _fleet_as_table(fleet: FleetSpec) -> dict[str, Any]:
    return {
        "meters": fleet.meters,
        "days": fleet.days,
        "start": fleet.start,
        "interval_minutes": fleet.interval_minutes,
        "call_interval_hours": fleet.call_interval_hours,
        "credit_frame_days": fleet.credit_frame_days,
        "feeders": fleet.feeders,
        "annual_kwh": list(fleet.annual_kwh),
        "profiles": dict(fleet.profiles),
        "tariffs": dict(fleet.tariffs),
        "unit_wh": fleet.unit_wh,
    }


def _fleet(t: dict[str, Any], origin: str) -> FleetSpec:
    where = f"{origin} [fleet]"
    _only(t, set(_fleet_as_table(FleetSpec())), where)
    start = t.get("start", FleetSpec.start)
    if isinstance(start, str):
        try:
            start = date.fromisoformat(start)
        except ValueError:
            raise ScenarioError(
                f"scenario {where}: start {start!r} is not a YYYY-MM-DD date"
            ) from None
    if not isinstance(start, date):
        raise ScenarioError(f"scenario {where}: start must be a date like 2026-01-01")
    interval = _int(t, "interval_minutes", where, 15, 1)
    if 1440 % interval:
        raise ScenarioError(f"scenario {where}: interval_minutes {interval} must divide a day")
    kwh = t.get("annual_kwh", [1500, 6000])
    if (
        not isinstance(kwh, list)
        or len(kwh) != 2
        or not all(isinstance(v, int | float) and v > 0 for v in kwh)
        or kwh[0] > kwh[1]
    ):
        raise ScenarioError(
            f"scenario {where}: annual_kwh must be [low, high] with 0 < low <= high"
        )
    return FleetSpec(
        meters=_int(t, "meters", where, 50, 1),
        days=_int(t, "days", where, 90, 1),
        start=start if not hasattr(start, "date") else start.date(),
        interval_minutes=interval,
        call_interval_hours=_number(t, "call_interval_hours", where, 24.0, 0.25),
        credit_frame_days=_number(t, "credit_frame_days", where, 7.0, 0.5),
        feeders=_int(t, "feeders", where, 5, 1),
        annual_kwh=(float(kwh[0]), float(kwh[1])),
        profiles=_mix(t.get("profiles", {"h0": 1.0}), f"{where} profiles"),
        tariffs=_mix(t.get("tariffs", dict(FleetSpec().tariffs)), f"{where} tariffs"),
        unit_wh=_int(t, "unit_wh", where, 10, 1),
    )


def _power(t: dict[str, Any], origin: str) -> PowerOutage:
    where = f"{origin} [[power_outages]]"
    _only(t, {"day", "hours", "feeders"}, where)
    return PowerOutage(
        _int(t, "day", where, None, 0),
        _number(t, "hours", where, 1.0, 0.01),
        _int(t, "feeders", where, 1, 1),
    )


def _netout(t: dict[str, Any], origin: str) -> NetworkOutage:
    where = f"{origin} [[network_outages]]"
    _only(t, {"day", "days", "meters"}, where)
    return NetworkOutage(
        _int(t, "day", where, None, 0),
        _number(t, "days", where, 1.0, 0.01),
        _number(t, "meters", where, 0.1, 0.0),
    )


def _tamper(t: dict[str, Any], origin: str) -> TamperSpec:
    where = f"{origin} [[tamper]]"
    _only(t, {"day", "kind", "meters"}, where)
    return TamperSpec(
        _int(t, "day", where, None, 0),
        _enum(TamperAct, t.get("kind"), where),
        _int(t, "meters", where, 1, 1),
    )


def _attack(t: dict[str, Any], origin: str) -> AttackSpec:
    where = f"{origin} [[attacks]]"
    _only(t, {"day", "kind", "count"}, where)
    return AttackSpec(
        _int(t, "day", where, None, 0),
        _enum(AttackKind, t.get("kind"), where),
        _int(t, "count", where, 1, 1),
    )


def _crash(t: dict[str, Any], origin: str) -> CrashSpec:
    where = f"{origin} [[crashes]]"
    _only(t, {"day", "point"}, where)
    return CrashSpec(
        _int(t, "day", where, None, 0),
        _enum(CrashPoint, t.get("point", "before_commit"), where),
    )
