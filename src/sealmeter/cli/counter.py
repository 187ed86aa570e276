"""Commands of the `counter` part (see docs/cli.md)."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this part's commands to `app` and its benchmarks to `bench`."""
