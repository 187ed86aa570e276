"""Commands of the `tariff` part: `sealmeter bill`, `sealmeter tariff ...`, `bench tariff`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from sealmeter.tariff import RateSchedule

__all__ = ["register"]

SHIPPED_PREFIX = "shipped:"


def _load(spec: str, *, urdb: bool, tz: str | None) -> RateSchedule:
    """Load one schedule: a file, or `shipped:NAME` for a tariff shipped with sealmeter."""
    from decimal import Decimal

    from sealmeter.tariff import load_schedule, load_shipped, schedule_from_urdb
    from sealmeter.tariff.errors import ScheduleError

    if spec.startswith(SHIPPED_PREFIX):
        return load_shipped(spec[len(SHIPPED_PREFIX) :], tz=tz)
    if not urdb:
        return load_schedule(spec)
    path = Path(spec)
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except OSError as exc:
        raise ScheduleError("(file)", f"cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise ScheduleError("(file)", f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ScheduleError("(file)", f"{path} must hold one URDB rate object")
    return schedule_from_urdb(data, tz=tz)


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=2)


def _text_bill(data: dict[str, Any]) -> str:
    cur = data["currency"]
    lines = [
        f"Bill {data['period']['start']} .. {data['period']['end']} "
        f"({data['intervals']} intervals, {data['energy_wh']} Wh)",
    ]
    for r in data["registers"]:
        lines.append(
            f"  {r['obis']:<8} {r['band']:<14} {r['energy_wh']:>14} Wh  {r['charge']:>12} {cur}"
        )
    lines.append(f"  standing charge{'':>31}{data['standing_charge']:>12} {cur}")
    lines.append(f"  demand charge{'':>33}{data['demand_charge']:>12} {cur}")
    lines.append(f"  total{'':>41}{data['total']:>12} {cur}")
    if data["peak"]:
        lines.append(f"  peak {data['peak']['power_w']} W at {data['peak']['at']}")
    for s in data["schedules"]:
        lines.append(f"  schedule {s['id']} v{s['version']}: {s['from']} .. {s['to']}")
    return "\n".join(lines)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this part's commands to `app` and its benchmarks to `bench`."""
    tariff_app = typer.Typer(
        help="Rate schedules: list the shipped tariffs, check and show a schedule file.",
        no_args_is_help=True,
    )
    app.add_typer(tariff_app, name="tariff")

    @app.command("bill")
    def bill_command(
        schedule: Annotated[
            list[str],
            typer.Option(
                "--schedule",
                help="Schedule file (TOML/JSON, or URDB JSON with --urdb), or shipped:NAME. "
                "Repeat for successive versions: the highest version valid at each instant "
                "applies.",
            ),
        ],
        usage: Annotated[
            Path,
            typer.Option(
                "--usage", help="CSV with header start,end,energy_wh (ISO 8601 with offsets)."
            ),
        ],
        urdb: bool = typer.Option(False, "--urdb", help="Schedule files are OpenEI URDB JSON."),
        tz: str | None = typer.Option(
            None, "--tz", help="IANA time zone for URDB schedules (URDB has none)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Bill a usage file under a rate schedule: usage and charge per register, total."""
        from sealmeter.errors import SealmeterError
        from sealmeter.tariff import bill, parse_usage_csv

        try:
            schedules = [_load(s, urdb=urdb, tz=tz) for s in schedule]
            try:
                text = usage.read_text(encoding="utf-8")
            except OSError as exc:
                raise typer.BadParameter(f"cannot read {usage}: {exc.strerror}") from exc
            except UnicodeDecodeError as exc:
                raise typer.BadParameter(
                    f"{usage} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it "
                    "as UTF-8 (a byte-order mark is fine)"
                ) from exc
            result = bill(schedules, parse_usage_csv(text)).to_json_dict()
        except SealmeterError as exc:
            raise _fail(exc) from exc
        typer.echo(json.dumps(result, indent=2) if as_json else _text_bill(result))

    @tariff_app.command("list")
    def list_command(
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """List the real published tariffs shipped with sealmeter (use as shipped:NAME)."""
        from sealmeter.tariff import load_shipped, shipped_names

        rows = []
        for name in shipped_names():
            s = load_shipped(name)
            rows.append({"name": name, "id": s.id, "version": s.version, "title": s.name})
        if as_json:
            typer.echo(json.dumps({"tariffs": rows}, indent=2))
        else:
            for row in rows:
                typer.echo(f"shipped:{row['name']:<28} {row['title']}")

    @tariff_app.command("check")
    def check_command(
        schedule: str = typer.Argument(..., help="Schedule file or shipped:NAME."),
        urdb: bool = typer.Option(False, "--urdb", help="The file is OpenEI URDB JSON."),
        tz: str | None = typer.Option(None, "--tz", help="IANA time zone for a URDB file."),
        canonical: bool = typer.Option(
            False, "--canonical", help="Print the canonical bytes (what the protocol carries)."
        ),
    ) -> None:
        """Validate a schedule; print its id, version, validity and SHA-256 digest."""
        from sealmeter.errors import SealmeterError

        try:
            s = _load(schedule, urdb=urdb, tz=tz)
        except SealmeterError as exc:
            raise _fail(exc) from exc
        if canonical:
            typer.echo(s.to_bytes().decode("ascii"))
            return
        until = "open-ended" if s.valid_to is None else s.valid_to.isoformat()
        typer.echo(f"ok: {s.id} version {s.version}, {s.timezone}, {s.currency}")
        typer.echo(f"valid from {s.valid_from.isoformat()} ({until})")
        bands = ", ".join(f"{b.obis}={b.name}@{b.unit_price}" for b in s.bands)
        typer.echo(f"bands: {bands}")
        typer.echo(f"sha256: {s.digest()}")

    @bench.command("tariff")
    def bench_command(
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
        repeat: int = typer.Option(20, "--repeat", min=1, help="Timed runs (best is kept)."),
    ) -> None:
        """Billing throughput for a year of 15-minute data beside a bare NumPy sum."""
        from sealmeter.benchmarks.tariff import run

        result = run(repeat=repeat)
        if as_json:
            typer.echo(json.dumps(result, indent=2))
        else:
            for key, value in result.items():
                typer.echo(f"{key}: {value}")
