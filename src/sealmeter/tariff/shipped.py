"""The real published tariffs shipped as package data (see `data/SOURCES.md`)."""

from __future__ import annotations

import json
from importlib import resources

from sealmeter.tariff.errors import ScheduleError
from sealmeter.tariff.model import RateSchedule

__all__ = ["load_shipped", "shipped_names"]


def shipped_names() -> list[str]:
    """Names of the shipped tariffs (file names without extension)."""
    folder = resources.files("sealmeter.tariff").joinpath("data")
    return sorted(
        p.name.rsplit(".", 1)[0]
        for p in folder.iterdir()
        if p.name.endswith((".toml", ".json")) and not p.name.endswith(".urdb.json")
    ) + sorted(
        p.name[: -len(".urdb.json")] for p in folder.iterdir() if p.name.endswith(".urdb.json")
    )


def load_shipped(name: str, *, tz: str | None = None) -> RateSchedule:
    """Load shipped tariff `name`; URDB ones (`*.urdb.json`) take their zone from the file's
    `_sealmeter` note unless `tz` is given."""
    from sealmeter.tariff.schema import schedule_from_dict
    from sealmeter.tariff.urdb import schedule_from_urdb

    folder = resources.files("sealmeter.tariff").joinpath("data")
    for suffix in (".toml", ".json", ".urdb.json"):
        entry = folder.joinpath(name + suffix)
        if not entry.is_file():
            continue
        text = entry.read_text(encoding="utf-8")
        if suffix == ".toml":
            import tomllib
            from decimal import Decimal

            return schedule_from_dict(tomllib.loads(text, parse_float=Decimal))
        from decimal import Decimal

        data = json.loads(text, parse_float=Decimal)
        if suffix == ".urdb.json":
            return schedule_from_urdb(data, tz=tz)
        return schedule_from_dict(data)
    raise ScheduleError("(name)", f"no shipped tariff {name!r}; known: {shipped_names()}")
