"""The terminal view of a run: a rich progress bar while it runs, a summary table at the end."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sealmeter.sim.engine import Progress as ProgressFn
from sealmeter.sim.ledger import Ledger

__all__ = ["progress_bar", "summary_table"]


@contextmanager
def progress_bar(console: Console, label: str) -> Iterator[ProgressFn]:
    """A progress bar over simulated days; yields the callback the engine calls each day."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("days  {task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=None, status="")

        def update(done: int, total: int, ledger: Ledger) -> None:
            status = (
                f"uplinks {ledger.uplinks:,}  incidents {len(ledger.incidents):,}  "
                f"blocked {len(ledger.blocked)}"
            )
            bar.update(task, completed=done, total=total, status=status)

        yield update


def summary_table(ledger: Ledger) -> Table:
    """The ledger as a rich table: units, faults, attacks, blocks, bills, verdict."""
    data = ledger.as_json()
    table = Table(
        title=f"sealmeter simulate: {ledger.scenario}, {ledger.meters} meters x {ledger.days} "
        f"days over {ledger.transport} ({ledger.store}), seed {ledger.seed}",
        show_header=True,
        header_style="bold",
    )
    table.add_column("ledger")
    table.add_column("value", justify="right")
    table.add_column("check")

    def row(name: str, value: object, good: bool | None = None) -> None:
        mark = "" if good is None else ("[green]ok[/]" if good else "[red]FAIL[/]")
        table.add_row(name, f"{value:,}" if isinstance(value, int) else str(value), mark)

    units = data["units"]
    row("units measured", units["measured"])
    row("units counted by meters", units["counted"], units["counted"] == units["measured"])
    row("units stored at head-end", units["stored"])
    row("units still on meters", units["queued"])
    row("units lost", data["units_lost"], data["units_lost"] == 0)
    row("units invented", data["units_invented"], data["units_invented"] == 0)
    row("registrations stored", data["registrations"])
    row("uplinks sent", data["uplinks"])
    faults = data["faults"]
    row("faults injected", faults["injected"])
    row("faults survived", faults["survived"], faults["survived"] == faults["injected"])
    attacks = data["attacks"]
    row("attacks tried", attacks["tried"])
    row("attacks accepted", attacks["accepted"], attacks["accepted"] == 0)
    row("head-end crashes", data["crashes"])
    row("meters stuck after recovery", data["meters_stuck"], data["meters_stuck"] == 0)
    row(
        "meters blocked / unblocked", f"{data['blocks']['blocked']} / {data['blocks']['unblocked']}"
    )
    bills = data["bills"]
    row("bills", f"{bills['customers']} customers, {bills['charge']:,.2f}")
    row("alerts", sum(data["alerts"].values()))
    row("wall time", f"{data['wall_s']:.1f} s")
    return table
