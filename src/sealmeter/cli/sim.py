"""Commands of the `sim` part: fleet simulation and the demo (see docs/cli.md)."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this part's commands to `app` and its benchmarks to `bench`."""

    @app.command()
    def demo() -> None:
        """Run the main job on embedded defaults (SQLite, no servers needed)."""
        typer.echo(
            "sealmeter demo: not yet. The fleet demo lands with the transports and simulator "
            "work; until then try `sealmeter --help`."
        )
