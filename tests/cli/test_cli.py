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


_LATIN1 = "start,end,energy_wh\n2026-01-01T00:00:00+00:00,2026-01-01T01:00:00+00:00,caf\xe9\n"


def _file_cases(tmp: Path) -> list[list[str]]:
    """Commands that read a file, each with a path that is missing, a folder, or not UTF-8."""
    latin1 = tmp / "latin1.txt"
    latin1.write_bytes(_LATIN1.encode("latin-1"))
    missing = tmp / "absent.txt"
    cases = []
    for bad in (missing, tmp, latin1):
        cases += [
            ["bill", "--schedule", "shipped:uk-e7-eon-next-flex", "--usage", str(bad)],
            ["bill", "--schedule", str(bad), "--usage", str(bad)],
            ["tariff", "check", str(bad)],
            ["simulate", "--scenario", str(bad), "--meters", "1", "--days", "1"],
            ["verify-bill", str(bad)],
            ["measure", str(bad)],
            ["headend", "schedule", "publish", str(bad), "--db", f"sqlite:///{tmp / 'h.db'}"],
            [
                *("meter", "lab-box", "answer", str(tmp / "nolab"), "--export", str(bad)),
                *("--uplink", str(bad), "--out", str(tmp / "out.bin")),
            ],
        ]
    return cases


def test_a_file_that_cannot_be_read_is_an_error_line_not_a_traceback(tmp_path: Path) -> None:
    # every command: a missing file, a folder or a non-UTF-8 file ends with a message and
    # a non-zero status, never with an exception escaping the command line
    for args in _file_cases(tmp_path):
        result = runner.invoke(app, args)
        assert result.exit_code not in (0, None), (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            args,
            repr(result.exception),
        )
        assert "Traceback" not in result.output, args


def test_a_typed_error_no_command_caught_is_an_error_line(tmp_path: Path) -> None:
    # `counter cut --at -1` let the NVM's NvmUsageError escape as a traceback
    image = tmp_path / "c.img"
    assert runner.invoke(app, ["counter", "init", str(image)]).exit_code == 0
    result = runner.invoke(app, ["counter", "cut", str(image), "10", "--at", "-1"])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "cut_at=-1 must be >= 1" in result.output
