"""Commands of the `counter` part: a unit counter kept in a memory image, and its benchmark.

`sealmeter counter init IMAGE` formats a counter on a simulated part saved to IMAGE;
`record`, `show`, `cut` and `recover` work on that image between runs; `sealmeter bench counter`
runs the tear-safety, lifetime and speed benchmark.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["register"]

_REGION = "counter"


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _design_of(part: Any) -> tuple[Any, int]:
    """The design and region size stored in the image's region table."""
    from sealmeter.counter import Design

    for name, (_, length) in part.regions.items():
        if name.startswith(f"{_REGION}:"):
            return Design(name.split(":", 1)[1]), length
    _fail("the image holds no counter; create one with `sealmeter counter init`")
    raise AssertionError("unreachable")  # pragma: no cover


def _open(image: Path) -> tuple[Any, Any]:
    from sealmeter.counter import CounterError, open_counter
    from sealmeter.nvm import ImageError, load

    try:
        part = load(image)
    except ImageError as exc:
        _fail(str(exc))
    design, length = _design_of(part)
    part.power_on()
    try:
        counter = open_counter(design, part.region(f"{_REGION}:{design.value}", length))
    except CounterError as exc:
        _fail(str(exc))
    return part, counter


def _summary(part: Any, counter: Any) -> dict[str, Any]:
    cycles = part.cycles()
    geo = part.geometry
    design, _ = _design_of(part)
    return {
        "design": design.value,
        "technology": geo.technology.value,
        "erased": f"{geo.erased:#04x}",
        "value": counter.value,
        "max_cycles": max(cycles),
        "endurance": geo.endurance,
        "primitives": part.ops,
    }


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this part's commands to `app` and its benchmarks to `bench`."""
    counter_app = typer.Typer(
        help="A tear-safe unit counter on a simulated EEPROM or flash saved to a file.",
        no_args_is_help=True,
    )
    app.add_typer(counter_app, name="counter")

    @counter_app.command("init")
    def init_command(
        image: Annotated[Path, typer.Argument(help="Memory image file to create.")],
        technology: Annotated[
            str, typer.Option(help="Memory technology: eeprom or nor_flash.")
        ] = "eeprom",
        design: Annotated[
            str, typer.Option(help="Counter design: levelled, seed003 or naive.")
        ] = "levelled",
        size: Annotated[int, typer.Option(help="Part size in bytes.")] = 4096,
        erased: Annotated[str, typer.Option(help="Erased byte value: 0xff or 0x00.")] = "0xff",
        endurance: Annotated[int, typer.Option(help="Rated cycles per cell group.")] = 100_000,
        start: Annotated[int, typer.Option(help="Initial counter value.")] = 0,
        force: Annotated[bool, typer.Option(help="Overwrite an existing image.")] = False,
    ) -> None:
        """Create a memory image holding a freshly formatted counter."""
        from sealmeter.counter import Design, SeedConfig, footprint, format_counter
        from sealmeter.errors import SealmeterError
        from sealmeter.nvm import Eeprom, NorFlash, save

        if image.exists() and not force:
            _fail(f"{image} exists; pass --force to overwrite it")
        try:
            chosen = Design(design)
        except ValueError:
            _fail(f"unknown design {design!r}; use one of {[d.value for d in Design]}")
        if erased.lower() not in ("0xff", "0x00"):
            _fail(f"erased value {erased!r} must be 0xff or 0x00")
        erased_value = int(erased, 16)
        try:
            part: Eeprom | NorFlash
            if technology == "eeprom":
                part = Eeprom(size, erased=erased_value, endurance=endurance)
            elif technology == "nor_flash":
                part = NorFlash(size, erased=erased_value, endurance=endurance)
            else:
                _fail(f"unknown technology {technology!r}; use eeprom or nor_flash")
            config = (
                SeedConfig(a_bytes=part.geometry.group_size)
                if chosen is Design.SEED and technology == "nor_flash"
                else None
            )
            length = footprint(chosen, part, config)
            region = part.region(f"{_REGION}:{chosen.value}", length)
            counter = format_counter(chosen, region, config, start)
            save(part, image)
        except SealmeterError as exc:
            _fail(str(exc))
        typer.echo(json.dumps(_summary(part, counter)))

    @counter_app.command("record")
    def record_command(
        image: Annotated[Path, typer.Argument(help="Memory image holding a counter.")],
        units: Annotated[int, typer.Argument(help="Units to record.")],
    ) -> None:
        """Record UNITS on the counter in IMAGE and print the new total."""
        from sealmeter.errors import SealmeterError
        from sealmeter.nvm import save

        part, counter = _open(image)
        try:
            counter.record(units)
            save(part, image)
        except SealmeterError as exc:
            _fail(str(exc))
        typer.echo(json.dumps(_summary(part, counter)))

    @counter_app.command("cut")
    def cut_command(
        image: Annotated[Path, typer.Argument(help="Memory image holding a counter.")],
        units: Annotated[int, typer.Argument(help="Units the interrupted call records.")],
        at: Annotated[int, typer.Option(help="Cut power during this primitive (1 = first).")] = 1,
        seed: Annotated[int, typer.Option(help="Seed of the torn bit subset.")] = 0,
    ) -> None:
        """Record UNITS but cut power during primitive --at, and save the torn memory."""
        from sealmeter.errors import SealmeterError
        from sealmeter.nvm import FaultPlan, PowerCut, TearMode, save

        part, counter = _open(image)
        before = counter.value
        part.inject(FaultPlan(seed=seed, cut_at=at, tear=TearMode.RANDOM))
        try:
            counter.record(units)
            part.inject(None)
            save(part, image)
            typer.echo(json.dumps({"cut": False, "value": counter.value}))
            return
        except PowerCut as exc:
            part.inject(None)
            save(part, image)
            typer.echo(json.dumps({"cut": True, "before": before, "message": str(exc)}))
        except SealmeterError as exc:
            _fail(str(exc))

    @counter_app.command("show")
    def show_command(
        image: Annotated[Path, typer.Argument(help="Memory image holding a counter.")],
    ) -> None:
        """Open the counter in IMAGE (running recovery after a cut) and print its state."""
        from sealmeter.nvm import save

        part, counter = _open(image)
        save(part, image)
        typer.echo(json.dumps(_summary(part, counter)))

    @bench.command("counter")
    def bench_command(
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
        eeprom_endurance: Annotated[
            int, typer.Option(help="Endurance of the EEPROM in the lifetime runs.")
        ] = 1000,
        flash_endurance: Annotated[
            int, typer.Option(help="Endurance of the flash in the lifetime runs.")
        ] = 100,
        tear_calls: Annotated[
            int, typer.Option(help="record() calls per harness run (cuts grow with it).")
        ] = 100,
        garbage_samples: Annotated[
            int, typer.Option(help="Random strings offered to the redundancy code.")
        ] = 1_000_000,
        speed_calls: Annotated[int, typer.Option(help="Calls per speed measurement.")] = 20_000,
        seed: Annotated[int, typer.Option(help="Seed of the call sequences and tears.")] = 0,
        quiet: Annotated[bool, typer.Option(help="No progress lines on stderr.")] = False,
    ) -> None:
        """Tear-safety (power cuts, violations), lifetime vs physical limit, and speed."""
        from sealmeter.benchmarks.counter import run

        def progress(message: str) -> None:
            if not quiet:
                print(message, file=sys.stderr, flush=True)

        result = run(
            eeprom_endurance=eeprom_endurance,
            flash_endurance=flash_endurance,
            tear_calls=tear_calls,
            garbage_samples=garbage_samples,
            speed_calls=speed_calls,
            seed=seed,
            progress=progress,
        )
        if as_json:
            typer.echo(json.dumps(result))
            return
        typer.echo(
            f"tearing: {result['tearing']['cuts']} cuts, "
            f"{result['tearing']['violations']} violations"
        )
        for tech, designs in result["lifetime"].items():
            for name, fig in designs.items():
                typer.echo(
                    f"lifetime {tech:9} {name:9} {fig['units']:>9} units  "
                    f"{fig['fraction_of_limit']:.4f} of the limit"
                )
        g = result["garbage"]
        typer.echo(
            f"garbage accepted: {g['accepted_random']} of {g['samples']} random records "
            f"({g['accepted_with_right_tag']} with the right tag)"
        )
        for name, fig in result["speed"].items():
            if isinstance(fig, dict):
                typer.echo(
                    f"speed {name:9} {fig['record_us']} us per record(1), "
                    f"{fig['ratio_to_raw_write']}x a raw write"
                )
