"""Commands of the `metering` part (see docs/cli.md and docs/metering.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from sealmeter.errors import SealmeterError

__all__ = ["register"]


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this part's commands to `app` and its benchmarks to `bench`."""

    @app.command("measure")
    def measure(
        samples: Annotated[
            Path,
            typer.Option(
                "--samples",
                help="Recorded samples: CSV with columns t,u,i (s, V, A) or a .npy array.",
            ),
        ],
        method: str = typer.Option(
            "signed",
            "--method",
            help="signed (correct, default) or rectified (the seed's |u|*|i| variant).",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Measure a recorded u(t), i(t) capture: energies and RMS values."""
        from sealmeter.metering import Method, measure_file

        choices = {m.value: m for m in Method}
        if method not in choices:
            typer.echo(
                f"error: --method must be one of {sorted(choices)}, got {method!r}", err=True
            )
            raise typer.Exit(code=2)
        try:
            reading = _measure_with_progress(samples, choices[method], measure_file)
        except SealmeterError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=2) from None
        figures = reading.to_json()
        if as_json:
            typer.echo(json.dumps(figures))
            return
        typer.echo(f"{samples}: {reading.samples} samples over {reading.duration_s:.6g} s")
        for key in (
            "active_energy_wh",
            "active_import_wh",
            "active_export_wh",
            "reactive_energy_varh",
            "apparent_energy_vah",
            "u_rms_v",
            "i_rms_a",
            "mean_power_w",
        ):
            typer.echo(f"  {key:22s} {figures[key]:.9g}")

    @bench.command("metering")
    def bench_metering(
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
        quick: bool = typer.Option(False, "--quick", help="Shorter runs (smoke check)."),
    ) -> None:
        """Accuracy at IEC 62053-22 test points and throughput against NumPy."""
        from sealmeter.benchmarks.metering import run

        result = run(quick=quick)
        if as_json:
            typer.echo(json.dumps(result))
            return
        typer.echo(f"max |error| signed:    {result['max_abs_error_pct']:.5f} %")
        typer.echo(f"max |error| rectified: {result['max_abs_error_pct_rectified']:.3f} %")
        typer.echo(
            f"samples/s {result['samples_per_s']:.3e} vs NumPy bound "
            f"{result['numpy_bound_samples_per_s']:.3e} "
            f"(ratio {result['ratio_to_numpy_bound']:.2f})"
        )


def _measure_with_progress(path: Path, method: Any, measure: Callable[..., Any]) -> Any:
    """Run `measure` on `path`, with a progress bar on stderr when it is a terminal."""
    import sys

    if not sys.stderr.isatty():
        return measure(path, method)
    from rich.progress import Progress

    with Progress(transient=True, console=_stderr_console()) as bar:
        task = bar.add_task(f"measuring {path.name}", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return measure(path, method, progress=update)


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)
