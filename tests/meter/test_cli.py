"""The `sealmeter meter` commands, in-process: a meter driven from the terminal end to end."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from sealmeter.cli import app

from .conftest import DATA

runner = CliRunner()


def sm(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def _meter(tmp_path: Path) -> tuple[Path, Path, Path]:
    box, m, export = tmp_path / "box", tmp_path / "m1", tmp_path / "m1.json"
    assert sm("meter", "lab-box", "init", box)[0] == 0
    code, out = sm(
        "meter",
        "create",
        m,
        "--id",
        "m1",
        "--at",
        "2026-03-02T00:00:00+00:00",
        "--schedule",
        DATA / "day-night.json",
        "--credit-days",
        "2",
    )
    assert code == 0, out
    code, out = sm(
        "meter",
        "provision",
        m,
        "--headend-keys",
        box / "box.pub",
        "--export",
        export,
        "--public-keys-out",
        tmp_path / "m1.pub",
        "--chain-key-out",
        tmp_path / "m1.k0",
    )
    assert code == 0, out
    data = json.loads(export.read_text())
    assert data["meter_id"] == "m1"
    assert base64.b64decode(data["chain_key"]) == (tmp_path / "m1.k0").read_bytes()
    assert base64.b64decode(data["public_keys"]) == (tmp_path / "m1.pub").read_bytes()
    return box, m, export


def test_create_provision_feed_show_uplink_downlink(tmp_path: Path) -> None:
    box, m, export = _meter(tmp_path)
    code, out = sm(
        "meter",
        "feed",
        m,
        "--watts",
        "1000",
        "--from",
        "2026-03-02T00:00:00+00:00",
        "--to",
        "2026-03-03T00:00:00+00:00",
        "--json",
    )
    assert code == 0, out
    assert json.loads(out)["delivered_wh"] == 24000.0
    code, out = sm("meter", "show", m, "--json")
    shown = json.loads(out)
    assert {r["obis"]: r["energy_wh"] for r in shown["registers"]} == {
        "1.8.1": 16000,
        "1.8.2": 8000,
    }
    assert shown["outstanding"] == "6.4"
    assert shown["queued_registrations"] == 3
    rows = json.loads(sm("meter", "registrations", m, "--json")[1])
    assert [(r["seq"], r["time"][11:16]) for r in rows] == [
        (1, "06:00"),
        (2, "22:00"),
        (3, "00:00"),
    ]
    assert rows[1]["registers"][0] == {"obis": "1.8.1", "usage": 16000, "charge": "4.8"}
    up, down = tmp_path / "up.bin", tmp_path / "down.bin"
    assert sm("meter", "uplink", m, "--out", up)[0] == 0
    code, out = sm(
        "meter", "lab-box", "answer", box, "--export", export, "--uplink", up, "--out", down
    )
    assert code == 0, out
    assert "accepted 3 registrations (24000 units)" in out
    code, out = sm("meter", "downlink", m, down, "--json")
    assert code == 0, out
    assert json.loads(out)["acked_seq"] == 3
    assert json.loads(sm("meter", "show", m, "--json")[1])["outstanding"] == "0"
    # The same downlink again is a replay: refused, exit code 1, nothing changed.
    code, out = sm("meter", "downlink", m, down)
    assert code == 1
    assert "rejected" in out


def test_blocked_after_credit_frame_and_state_survives_between_runs(tmp_path: Path) -> None:
    _, m, _ = _meter(tmp_path)
    code, out = sm(
        "meter",
        "feed",
        m,
        "--watts",
        "500",
        "--from",
        "2026-03-02T00:00:00+00:00",
        "--to",
        "2026-03-05T00:00:00+00:00",
        "--json",
    )
    assert code == 0, out
    assert json.loads(out)["delivered_wh"] == 500 * 48
    shown = json.loads(sm("meter", "show", m, "--json")[1])
    assert shown["relay"] == "blocked-credit"
    assert shown["led"] == "red-blinking"
    assert shown["time"] == "2026-03-05T00:00:00+00:00"  # the meter's time survived the run


def test_samples_file_is_measured_and_counted(tmp_path: Path) -> None:
    _, m, _ = _meter(tmp_path)
    rate, seconds = 4000, 60
    t = np.arange(rate * seconds) / rate
    u = 325.0 * np.sin(2 * np.pi * 50 * t)
    i = 14.14 * np.sin(2 * np.pi * 50 * t)
    path = tmp_path / "capture.csv"
    np.savetxt(path, np.column_stack([t, u, i]), delimiter=",", header="t,u,i", comments="")
    code, out = sm(
        "meter", "feed", m, "--samples", path, "--start", "2026-03-02T10:00:00+00:00", "--json"
    )
    assert code == 0, out
    expected_wh = 325.0 * 14.14 / 2 * seconds / 3600
    assert abs(json.loads(out)["delivered_wh"] - expected_wh) < expected_wh * 1e-3
    shown = json.loads(sm("meter", "show", m, "--json")[1])
    assert shown["units"] == int(json.loads(out)["delivered_wh"])


def test_events_and_bad_input_give_clear_errors(tmp_path: Path) -> None:
    _, m, _ = _meter(tmp_path)
    code, out = sm("meter", "event", m, "housing-opened", "--at", "2026-03-02T01:00:00+00:00")
    assert code == 0
    assert "detection" in out
    assert "HOUSING OPENED" in sm("meter", "show", m)[1]
    assert sm("meter", "event", m, "earthquake")[0] == 2
    code, out = sm("meter", "show", tmp_path / "nothing")
    assert code == 2
    assert "holds no meter" in out
    code, out = sm("meter", "feed", m, "--watts", "1", "--profile", "H25")
    assert code == 2
    assert "exactly one" in out
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x01\x02 not a downlink")
    sm("meter", "uplink", m, "--out", tmp_path / "u.bin")
    code, out = sm("meter", "downlink", m, garbage)
    assert code == 1
    assert "rejected" in out


def test_options_that_are_no_number_are_refused_before_anything_is_made(tmp_path: Path) -> None:
    # before: tracebacks (InvalidOperation, OverflowError, ValueError) from `create`, and a
    # NaN current taken as agreement by the bypass detector via `event bypass`
    cases = [
        ("--credit-limit", "abc", "not an amount"),
        ("--credit-limit", "NaN", "finite"),
        ("--call-period-hours", "1e300", "from 0 to"),
        ("--period-hours", "nan", "from 0 to"),
        ("--credit-days", "-1", "from 0 to"),
    ]
    for i, (option, value, says) in enumerate(cases):
        where = tmp_path / f"m{i}"
        result = runner.invoke(app, ["meter", "create", str(where), "--id", "m", option, value])
        assert result.exit_code == 2, (option, value, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert says in result.output, result.output
        assert not (where / "nvm.img").exists()
    _, m, _ = _meter(tmp_path)
    for args in (["--supply-a", "nan"], ["--load-a", "inf"], ["--seconds", "-1"]):
        code, out = sm("meter", "event", m, "bypass", *args)
        assert code == 2, (args, out)
        assert "must be numbers" in out
