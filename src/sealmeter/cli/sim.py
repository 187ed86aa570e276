"""Commands of the `sim` part: `sealmeter simulate` and `sealmeter demo` (see docs/sim.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]

_SCENARIO_HELP = (
    "Scenario: normal, outages, tamper, network, attacks, crash, all, or a path to a TOML file."
)


def _run(
    *,
    scenario: str,
    meters: int | None,
    days: int | None,
    transport: str,
    store: str,
    store_url: str | None,
    seed: int,
    as_json: bool,
    report: Path | None,
    faults: bool,
    feed_minutes: int,
    workdir: Path | None,
    workers: int = 2,
) -> int:
    """Build the fleet, run it, print the ledger; return the exit code (1 if a check failed)."""
    import os
    import tempfile

    from rich.console import Console

    from sealmeter.errors import SealmeterError
    from sealmeter.sim import (
        SimOptions,
        load_scenario,
        progress_bar,
        render_report,
        run_simulation,
        summary_table,
    )
    from sealmeter.sim.wiring import build_world

    console = Console(stderr=as_json)
    try:
        loaded = load_scenario(scenario)
        n = meters or loaded.fleet.meters
        d = days or loaded.fleet.days
        if store == "postgresql" and not store_url:
            store_url = os.environ.get(
                "SEALMETER_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
            )
        folder = workdir or Path(tempfile.mkdtemp(prefix="sealmeter-sim-"))
        folder.mkdir(parents=True, exist_ok=True)
        if store != "postgresql" and _set_aside(folder / "headend.db"):
            console.print(f"the previous run's head-end store is kept as {folder / _PREVIOUS}")
        url = store_url if store == "postgresql" else f"sqlite:///{folder / 'headend.db'}"
        if feed_minutes % loaded.fleet.interval_minutes:
            raise typer.BadParameter(
                f"--feed-minutes {feed_minutes} must be a multiple of the "
                f"{loaded.fleet.interval_minutes}-minute interval"
            )
        with console.status(f"manufacturing and provisioning {n} meters ..."):
            world = build_world(
                loaded.fleet,
                n,
                d,
                seed=seed,
                store_url=url,
                workdir=folder,
                feed_step=feed_minutes // loaded.fleet.interval_minutes,
            )
        options = SimOptions(
            loaded,
            n,
            d,
            transport=transport,
            store=store,
            seed=seed,
            faults=faults,
            workers=workers,
        )
        with progress_bar(console, f"{loaded.name} over {transport}") as tick:
            ledger = run_simulation(world, options, tick)
        world.headend.close()
    except SealmeterError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    out = ledger.as_json()
    html = report or folder / "report.html"
    html.write_text(render_report(ledger), encoding="utf-8")
    (folder / "ledger.json").write_text(
        json.dumps({**out, "incidents": ledger.incidents_json()}, indent=1), encoding="utf-8"
    )
    if as_json:
        sys.stdout.write(json.dumps(out) + "\n")
    else:
        console.print(summary_table(ledger))
        console.print(f"report: {html}\nledger: {folder / 'ledger.json'}\nhead-end store: {url}")
    ok = (
        out["units_lost"] == 0
        and out["units_invented"] == 0
        and out["attacks"]["accepted"] == 0
        and out["faults"]["survived"] == out["faults"]["injected"]
        and out["meters_stuck"] == 0
    )
    return 0 if ok else 1


_PREVIOUS = "headend.previous.db"


def _set_aside(db: Path) -> bool:
    """Move a previous run's SQLite store (and its WAL files) to `_PREVIOUS` beside it.

    Every run provisions its fleet afresh; in the old store its schedules and meters exist
    already. The one before is kept (an older one is replaced), so nothing is deleted
    unasked. Returns whether there was one.
    """
    if not db.exists():
        return False
    for suffix in ("", "-wal", "-shm"):
        old = db.with_name(db.name + suffix)
        kept = db.with_name(_PREVIOUS + suffix)
        kept.unlink(missing_ok=True)
        if old.exists():
            old.replace(kept)
    return True


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this part's commands to `app` and its benchmarks to `bench`."""

    @app.command()
    def simulate(
        meters: Annotated[
            int | None,
            typer.Option("--meters", min=1, help="Fleet size (default: the scenario's)."),
        ] = None,
        days: Annotated[
            int | None,
            typer.Option("--days", min=1, help="Simulated days (default: the scenario's)."),
        ] = None,
        scenario: Annotated[str, typer.Option("--scenario", help=_SCENARIO_HELP)] = "normal",
        transport: Annotated[
            str, typer.Option("--transport", help="inproc, http (loopback) or mqtt (local broker).")
        ] = "inproc",
        store: Annotated[
            str, typer.Option("--store", help="Head-end store: sqlite (a file) or postgresql.")
        ] = "sqlite",
        store_url: Annotated[
            str | None,
            typer.Option("--store-url", help="PostgreSQL URL (default: $SEALMETER_POSTGRES)."),
        ] = None,
        seed: Annotated[int, typer.Option("--seed", help="Seed of every random choice.")] = 1,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the ledger as one JSON object.")
        ] = False,
        report: Annotated[
            Path | None, typer.Option("--report", help="Where to write the HTML report.")
        ] = None,
        faults: Annotated[
            bool, typer.Option("--faults/--no-faults", help="Inject the scenario's link faults.")
        ] = True,
        feed_minutes: Annotated[
            int,
            typer.Option("--feed-minutes", min=15, help="Consumption fed to meters per step."),
        ] = 60,
        workdir: Annotated[
            Path | None,
            typer.Option("--workdir", help="Folder for the database, report and ledger."),
        ] = None,
        workers: Annotated[
            int,
            typer.Option("--workers", min=1, help="Head-end workers on the MQTT subscription."),
        ] = 2,
    ) -> None:
        """Simulate a fleet with faults and attacks; print the ledger (exit 1 if a check fails)."""
        if transport not in ("inproc", "http", "mqtt"):
            raise typer.BadParameter("--transport must be inproc, http or mqtt")
        if store not in ("sqlite", "postgresql"):
            raise typer.BadParameter("--store must be sqlite or postgresql")
        code = _run(
            scenario=scenario,
            meters=meters,
            days=days,
            transport=transport,
            store=store,
            store_url=store_url,
            seed=seed,
            as_json=as_json,
            report=report,
            faults=faults,
            feed_minutes=feed_minutes,
            workdir=workdir,
            workers=workers,
        )
        raise typer.Exit(code)

    @app.command()
    def demo(
        meters: Annotated[int, typer.Option("--meters", min=1, help="Fleet size.")] = 50,
        days: Annotated[int, typer.Option("--days", min=1, help="Simulated days.")] = 90,
        serve: Annotated[
            bool, typer.Option("--serve", help="Leave the dashboard running afterwards.")
        ] = False,
        workdir: Annotated[
            Path, typer.Option("--workdir", help="Folder for the database and report.")
        ] = Path("sealmeter-demo"),
    ) -> None:
        """Run the main job: a fleet through the `all` scenario over HTTP against SQLite."""
        code = _run(
            scenario="all",
            meters=meters,
            days=days,
            transport="http",
            store="sqlite",
            store_url=None,
            seed=1,
            as_json=False,
            report=None,
            faults=True,
            feed_minutes=60,
            workdir=workdir,
        )
        db = f"sqlite:///{(workdir / 'headend.db').resolve()}"
        typer.echo(f"dashboard: sealmeter serve --db {db}  (then open http://127.0.0.1:8470/)")
        if serve:
            from typer.main import get_command

            from sealmeter.cli import app as root

            group = get_command(root)
            names = (
                group.list_commands(group.context_class(group))
                if hasattr(group, "list_commands")
                else []
            )
            if "serve" not in names:
                typer.echo("the dashboard (`sealmeter serve`) is not installed in this build")
                raise typer.Exit(code or 1)
            root(["serve", "--db", db], standalone_mode=False)
        raise typer.Exit(code)

    @bench.command("fleet")
    def bench_fleet(
        meters: Annotated[int, typer.Option("--meters", min=1, help="Fleet size.")] = 50,
        days: Annotated[int, typer.Option("--days", min=1, help="Simulated days.")] = 30,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
        workers: Annotated[
            int, typer.Option("--workers", min=1, help="Processes the fleet is sharded over.")
        ] = 2,
        batch_minutes: Annotated[
            int,
            typer.Option(
                "--batch-minutes", min=0, help="Window of calls per head-end batch (0: none)."
            ),
        ] = 60,
        feed_minutes: Annotated[
            int, typer.Option("--feed-minutes", min=15, help="Consumption per meter input.")
        ] = 15,
    ) -> None:
        """Fleet throughput in simulated meter-days per second, and the crypto share."""
        from sealmeter.benchmarks.fleet import run_fleet_bench

        if feed_minutes % 15:
            raise typer.BadParameter("--feed-minutes must be a multiple of 15")
        result = run_fleet_bench(
            meters=meters,
            days=days,
            workers=workers,
            batch_minutes=batch_minutes,
            feed_minutes=feed_minutes,
        )
        typer.echo(json.dumps(result) if as_json else json.dumps(result, indent=2))
