"""The `sealmeter` command line: one Typer app, with commands contributed by each part.

Each part of the system owns one module here (`counter`, `metering`, `tariff`, `protocol`,
`meter`, `headend`, `sim`) exposing `register(app, bench)`, which adds its commands to the
top-level app and its benchmarks to `sealmeter bench`. Heavy imports happen inside commands,
so `sealmeter --help` stays fast.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from sealmeter import __version__
from sealmeter.cli import counter, headend, meter, metering, protocol, sim, tariff, web
from sealmeter.errors import SealmeterError

__all__ = ["app", "bench_app", "main"]


class _Root(TyperGroup):
    """The root command group: an error a command does not catch is an error line, not a
    traceback.

    Commands report their own errors; this is the net under all of them for what they do not
    catch: a typed `SealmeterError` (its message says what to do), a missing file, a
    directory, a file that is not UTF-8 text.
    """

    def invoke(self, ctx: Any) -> Any:
        """Run the command; turn an uncaught typed error or unreadable file into exit status 1."""
        try:
            return super().invoke(ctx)
        except SealmeterError as exc:  # typed, its message says what to do
            message = str(exc)
        except UnicodeDecodeError as exc:
            message = (
                f"a file is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8"
            )
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename else ""
            message = f"cannot use{where}: {exc.strerror or exc}"
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(1)


app = typer.Typer(
    name="sealmeter",
    help="Tamper-evident metering: security module, head-end, fleet simulator.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_Root,
)
bench_app = typer.Typer(
    help="Benchmarks: each prints its figures beside the raw cost of the work it wraps.",
    no_args_is_help=True,
)
app.add_typer(bench_app, name="bench")


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"sealmeter {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        help="Print the version and exit.",
        callback=_version_callback,
        is_eager=True,
    ),
) -> None:
    """Tamper-evident metering: security module, head-end, fleet simulator."""


for _part in (counter, metering, tariff, protocol, meter, headend, sim, web):
    _part.register(app, bench_app)


def main() -> None:
    """Run the command line (entry point of the `sealmeter` console script)."""
    app()
