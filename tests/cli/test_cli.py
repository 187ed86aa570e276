"""The command line: version, help, and documentation that cannot fall behind."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer.main
from typer.testing import CliRunner

from sealmeter import __version__
from sealmeter.cli import app

runner = CliRunner()
DOCS = Path(__file__).resolve().parents[2] / "docs"


def _commands(group: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every (path, command) below a Typer/click group (Typer may vendor its own click)."""
    found: list[tuple[str, Any]] = []
    ctx = group.context_class(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None
        path = f"{prefix} {name}".strip()
        found.append((path, cmd))
        if hasattr(cmd, "list_commands"):
            found.extend(_commands(cmd, path))
    return found


def test_version_prints_the_package_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"sealmeter {__version__}"


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "bench" in result.output


def test_every_command_has_help_text_and_is_documented() -> None:
    group = typer.main.get_command(app)
    assert hasattr(group, "list_commands")
    docs = "\n".join(p.read_text() for p in sorted(DOCS.glob("*.md")))
    missing_help = [p for p, c in _commands(group) if not (c.help or c.short_help)]
    undocumented = [
        p for p, _ in _commands(group) if not re.search(rf"sealmeter {re.escape(p)}\b", docs)
    ]
    assert missing_help == [], f"commands without help text: {missing_help}"
    assert undocumented == [], f"commands not mentioned in docs/*.md: {undocumented}"
