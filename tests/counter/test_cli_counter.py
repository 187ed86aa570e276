"""The counter commands and the counter benchmark, run in-process."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from sealmeter.cli import app

runner = CliRunner()


def _json(args: list[str]) -> dict[str, object]:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_init_record_cut_show_round_trip(tmp_path: Path) -> None:
    image = str(tmp_path / "meter.img")
    assert _json(["counter", "init", image, "--start", "5"])["value"] == 5
    assert _json(["counter", "record", image, "10"])["value"] == 15
    cut = _json(["counter", "cut", image, "3", "--at", "1", "--seed", "4"])
    assert cut["cut"] is True
    shown = _json(["counter", "show", image])
    assert 15 <= int(shown["value"]) <= 18  # type: ignore[call-overload]
    assert _json(["counter", "show", image])["value"] == shown["value"]


def test_init_on_flash_with_the_seed_design(tmp_path: Path) -> None:
    image = str(tmp_path / "flash.img")
    args = ["counter", "init", image, "--technology", "nor_flash", "--design", "seed003"]
    assert _json([*args, "--erased", "0x00"])["technology"] == "nor_flash"
    assert _json(["counter", "record", image, "300"])["value"] == 300


def test_errors_are_clear_and_exit_nonzero(tmp_path: Path) -> None:
    image = tmp_path / "x.img"
    result = runner.invoke(app, ["counter", "show", str(image)])
    assert result.exit_code == 1
    assert "cannot read memory image" in result.output
    image.write_bytes(b"garbage")
    assert (
        "not a sealmeter memory image" in runner.invoke(app, ["counter", "show", str(image)]).output
    )
    _json(["counter", "init", str(tmp_path / "y.img")])
    again = runner.invoke(app, ["counter", "init", str(tmp_path / "y.img")])
    assert again.exit_code == 1
    assert "--force" in again.output
    bad = runner.invoke(app, ["counter", "init", str(tmp_path / "z.img"), "--design", "abacus"])
    assert "unknown design" in bad.output


def test_bench_counter_json_has_the_figures() -> None:
    data = _json(
        [
            "bench",
            "counter",
            "--json",
            "--quiet",
            "--eeprom-endurance",
            "16",
            "--flash-endurance",
            "2",
            "--tear-calls",
            "4",
            "--garbage-samples",
            "1000",
            "--speed-calls",
            "200",
        ]
    )
    tearing = data["tearing"]
    assert isinstance(tearing, dict)
    assert tearing["violations"] == 0
    assert tearing["cuts"] > 0
    lifetime = data["lifetime"]
    assert isinstance(lifetime, dict)
    for tech in ("eeprom", "nor_flash"):
        for design in ("naive", "seed003", "levelled"):
            fig = lifetime[tech][design]
            assert 0 <= fig["fraction_of_limit"] <= 1
            assert fig["limit"] > fig["units"] >= 0
    eeprom = lifetime["eeprom"]
    assert eeprom["levelled"]["units"] > eeprom["seed003"]["units"] > eeprom["naive"]["units"]
