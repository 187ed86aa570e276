"""The `sealmeter bill` and `sealmeter tariff` commands, and the billing benchmark's shape."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from sealmeter.benchmarks.tariff import run
from sealmeter.cli import app

runner = CliRunner()
USAGE = "start,end,energy_wh\n2023-06-16T00:00:00+01:00,2023-06-16T02:00:00+01:00,2000\n"


def test_bill_json_has_the_documented_shape_and_values(tmp_path: Path) -> None:
    usage = tmp_path / "usage.csv"
    usage.write_text(USAGE)
    result = runner.invoke(
        app, ["bill", "--schedule", "shipped:uk-e7-eon-next-flex", "--usage", str(usage), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["registers"] == [
        {"obis": "1.8.1", "band": "day", "energy_wh": 500, "charge": "0.16"},
        {"obis": "1.8.2", "band": "night", "energy_wh": 1500, "charge": "0.26"},
    ]
    assert (data["standing_charge"], data["total"], data["currency"]) == ("0.04", "0.46", "GBP")
    assert data["peak"] == {
        "power_w": 1000,
        "at": "2023-06-15T23:00:00Z",
        "until": "2023-06-16T01:00:00Z",
    }


def test_bill_from_a_urdb_file_needs_and_uses_tz(tmp_path: Path) -> None:
    urdb = Path(__file__).parents[2] / "src/sealmeter/tariff/data/us-wi-river-falls-tod.urdb.json"
    raw = json.loads(urdb.read_text())
    del raw["_sealmeter"]
    plain = tmp_path / "rate.json"
    plain.write_text(json.dumps(raw))
    usage = tmp_path / "usage.csv"
    usage.write_text(
        "start,end,energy_wh\n2023-07-12T19:00:00-05:00,2023-07-12T21:00:00-05:00,4000\n"
    )
    args = ["bill", "--urdb", "--schedule", str(plain), "--usage", str(usage), "--json"]
    missing = runner.invoke(app, args)
    assert missing.exit_code == 2
    assert "timezone" in missing.output
    assert "--tz" in missing.output
    ok = runner.invoke(app, [*args, "--tz", "America/Chicago"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["total"] == "0.51"


def test_bill_reports_a_bad_schedule_field_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'id = "x"\nversion = 1\nvalid_from = "2023-01-01T00:00:00Z"\n'
        'timezone = "Nowhere/Land"\ncurrency = "EUR"\n'
    )
    usage = tmp_path / "usage.csv"
    usage.write_text(USAGE)
    result = runner.invoke(app, ["bill", "--schedule", str(bad), "--usage", str(usage)])
    assert result.exit_code == 2
    assert "'bands'" in result.output
    assert "expected a list" in result.output


def test_bill_text_output_lists_registers_and_total(tmp_path: Path) -> None:
    usage = tmp_path / "usage.csv"
    usage.write_text(USAGE)
    result = runner.invoke(
        app, ["bill", "--schedule", "shipped:uk-e7-eon-next-flex", "--usage", str(usage)]
    )
    assert result.exit_code == 0
    assert "1.8.2" in result.output
    assert "0.46 GBP" in result.output


def test_tariff_list_and_check() -> None:
    listed = runner.invoke(app, ["tariff", "list", "--json"])
    names = [t["name"] for t in json.loads(listed.output)["tariffs"]]
    assert names == [
        "de-neustadt-donau-ht-nt",
        "je-e7-jersey-electricity",
        "uk-e7-eon-next-flex",
        "us-wi-river-falls-tod",
    ]
    checked = runner.invoke(app, ["tariff", "check", "shipped:de-neustadt-donau-ht-nt"])
    assert checked.exit_code == 0
    assert "sha256:" in checked.output
    canonical = runner.invoke(
        app, ["tariff", "check", "--canonical", "shipped:uk-e7-eon-next-flex"]
    )
    assert json.loads(canonical.output)["id"] == "uk-e7-eon-next-flex"


def test_benchmark_reports_throughput_beside_numpy() -> None:
    figures = run(repeat=1)
    assert figures["intervals"] == 35_040
    assert figures["numpy_sum_ms"] > 0
    for entry in figures["tariffs"].values():
        assert entry["intervals_per_s"] > 0
        assert entry["ratio_to_numpy_sum"] > 0
