"""The `sealmeter headend` commands, `sealmeter verify-bill` and `bench ingest`, end to end."""

from __future__ import annotations

import base64
import csv
import io
import json
import random
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sealmeter.cli import app
from sealmeter.headend import BoxKeys, HeadEnd
from sealmeter.headend.testing import MeterSide
from sealmeter.protocol import PublicKeys
from tests.headend.conftest import T0
from tests.headend.test_billing import HT_1200, HTNT, NT_300

PASS = "cli test passphrase"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("SEALMETER_KEY_PASSPHRASE", PASS)
    monkeypatch.setenv("SEALMETER_DB", f"sqlite:///{tmp_path / 'he.db'}")
    monkeypatch.setenv("SEALMETER_KEYS", str(tmp_path / "box-keys.json"))
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def ok(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _fleet(runner: CliRunner, tmp_path: Path) -> tuple[MeterSide, HeadEnd]:
    ok(runner, "headend", "keys", "init")
    ok(runner, "headend", "keys", "public", "-o", "box.pub")
    assert "revision" in ok(runner, "headend", "init")
    (tmp_path / "htnt.toml").write_text(HTNT)
    assert "v1" in ok(runner, "headend", "schedule", "publish", "htnt.toml")
    m = MeterSide(
        "cli1", PublicKeys.from_bytes((tmp_path / "box.pub").read_bytes()), random.Random(2)
    )
    (tmp_path / "m.pub").write_bytes(m.keys.public().to_bytes())
    (tmp_path / "m.chain").write_bytes(m.chain_key)
    out = ok(
        runner,
        *("headend", "provision", "cli1", "--customer", "anna", "--public-keys", "m.pub"),
        *("--chain-key", "m.chain", "--schedule", "de-swn-donau-ht-nt", "--feeder", "F7"),
    )
    assert "provisioned cli1 for anna" in out
    keys = BoxKeys.load(tmp_path / "box-keys.json", PASS.encode())
    he = HeadEnd.open(f"sqlite:///{tmp_path / 'he.db'}", keys)
    for day in range(3):
        at = T0 + timedelta(days=day)
        m.register(
            at,
            {"1.8.1": (1200, HT_1200), "1.8.2": (300, NT_300)},
            schedule_id="de-swn-donau-ht-nt",
            schedule_version=1,
        )
        m.accept(he.handle_uplink(m.uplink(at), at), at)
    he.handle_uplink(b"forged", T0)
    return m, he


def test_operator_commands(runner: CliRunner, tmp_path: Path) -> None:
    _m, he = _fleet(runner, tmp_path)
    meters = json.loads(ok(runner, "headend", "meters", "--json"))
    assert [(x["meter_id"], x["state"], x["last_seq"]) for x in meters] == [("cli1", "active", 3)]
    assert "cli1" in ok(runner, "headend", "meters")
    codes = json.loads(ok(runner, "headend", "enable-codes", "--json"))
    assert [c["acked_seq"] for c in codes] == [1, 2, 3]
    rejections = json.loads(ok(runner, "headend", "rejections", "--json"))
    assert [r["reason"] for r in rejections] == ["malformed"]
    deliveries = json.loads(ok(runner, "headend", "schedule", "deliveries", "--json"))
    assert deliveries[0]["sent_at"] is not None
    assert "de-swn-donau-ht-nt" in ok(runner, "headend", "schedule", "list")
    text = ok(
        runner,
        "headend",
        "bills",
        "--from",
        "2026-03-01T00:00+01:00",
        "--to",
        "2026-04-01T00:00+02:00",
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    got = {r["line"]: r["charge"] for r in rows}
    # by hand: HT 3.6 kWh x 0.2437 = 0.87732 -> 0.88; NT 0.9 kWh x 0.2021 -> 0.18; + 8.33
    assert got == {"1.8.1": "0.88", "1.8.2": "0.18", "standing_charge": "8.33", "total": "9.39"}
    as_json = ok(
        runner,
        *("headend", "bills", "--from", "2026-03-01T00:00+01:00"),
        *("--to", "2026-04-01T00:00+02:00", "--format", "json", "--customer", "anna"),
    )
    assert json.loads(as_json)[0]["total"] == "9.39"
    assert "now blocked" in ok(runner, "headend", "block", "cli1", "--reason", "fraud")
    assert "now active" in ok(runner, "headend", "unblock", "cli1")
    watch = json.loads(ok(runner, "headend", "watch", "--json"))
    assert isinstance(watch, list)
    result = runner.invoke(app, ["headend", "block", "ghost"])
    assert result.exit_code == 2
    assert "no meter 'ghost'" in result.output
    result = runner.invoke(app, ["headend", "bills", "--from", "2026", "--to", "x"])
    assert result.exit_code != 0
    he.close()


def test_customer_verifies_the_bill_offline(runner: CliRunner, tmp_path: Path) -> None:
    _m, he = _fleet(runner, tmp_path)
    ok(runner, "headend", "export", "cli1", "-o", "export.json")
    out = ok(runner, "verify-bill", "export.json", "--public-key", "m.pub")
    assert "3 registrations" in out
    assert "bill verified" in out
    report = json.loads(ok(runner, "verify-bill", "export.json", "--public-key", "m.pub", "--json"))
    assert report["total"] == "1.06"  # 0.88 + 0.18, without the standing charge
    assert report["problems"] == []
    # the customer's own copy of the published tariff gives the same answer
    ok(runner, "verify-bill", "export.json", "--public-key", "m.pub", "--schedule", "htnt.toml")
    # a tampered export fails the check
    doc = json.loads((tmp_path / "export.json").read_text())
    env = bytearray(base64.b64decode(doc["uplinks"][1]["envelope"]))
    env[-80] ^= 0x01
    doc["uplinks"][1]["envelope"] = base64.b64encode(bytes(env)).decode()
    (tmp_path / "tampered.json").write_text(json.dumps(doc))
    result = runner.invoke(app, ["verify-bill", "tampered.json", "--public-key", "m.pub"])
    assert result.exit_code == 1
    assert "PROBLEM" in result.output
    assert "signature" in result.output
    # a dropped uplink is a gap
    doc = json.loads((tmp_path / "export.json").read_text())
    del doc["uplinks"][1]
    (tmp_path / "gap.json").write_text(json.dumps(doc))
    result = runner.invoke(app, ["verify-bill", "gap.json", "--public-key", "m.pub"])
    assert result.exit_code == 1
    assert "missing" in result.output
    # another meter's key does not verify anything
    stranger = MeterSide("x", he.keys.public(next(iter(he.keys.sets))), random.Random(9))
    (tmp_path / "other.pub").write_bytes(stranger.keys.public().to_bytes())
    result = runner.invoke(app, ["verify-bill", "export.json", "--public-key", "other.pub"])
    assert result.exit_code == 1
    result = runner.invoke(app, ["verify-bill", "m.pub"])
    assert result.exit_code == 2
    assert "not a sealmeter registrations export" in result.output
    he.close()


def test_a_meter_overcharging_is_caught_offline(runner: CliRunner, tmp_path: Path) -> None:
    m, he = _fleet(runner, tmp_path)
    at = T0 + timedelta(days=5)
    m.register(
        at,
        {"1.8.1": (1200, Decimal("0.30"))},
        schedule_id="de-swn-donau-ht-nt",
        schedule_version=1,
    )
    m.accept(he.handle_uplink(m.uplink(at), at), at)
    ok(runner, "headend", "export", "cli1", "-o", "export.json")
    result = runner.invoke(app, ["verify-bill", "export.json", "--public-key", "m.pub"])
    assert result.exit_code == 1
    assert "registration 4 register 1.8.1: the meter charged 0.30" in result.output
    he.close()


def test_bench_ingest_prints_its_figures(runner: CliRunner) -> None:
    out = ok(
        runner,
        *("bench", "ingest", "--json", "--meters", "4"),
        *("--registrations-per-uplink", "2", "--batch", "3"),
    )
    figures = json.loads(out)
    assert figures["registrations"] == 4 * 4 * 2
    assert figures["registrations_per_s"] > 0
    assert figures["crypto_bound_per_s"] > 0
    assert figures["ratio_of_totals"] == pytest.approx(
        figures["registrations_per_s"] / figures["crypto_bound_per_s"], rel=0.01
    )
    assert 0 < figures["ratio"] < 5
    assert figures["ratio_with_answer"] >= figures["ratio"]


def test_resolve_releases_enable_codes_withheld_for_a_mismatch(
    runner: CliRunner, tmp_path: Path
) -> None:
    m, he = _fleet(runner, tmp_path)
    at = T0 + timedelta(days=3)
    bad = {"1.8.1": (1200, Decimal("0.99")), "1.8.2": (300, NT_300)}
    m.register(at, bad, schedule_id="de-swn-donau-ht-nt", schedule_version=1)
    assert m.accept(he.handle_uplink(m.uplink(at), at), at).enable_code is None
    alerts = json.loads(ok(runner, "headend", "alerts", "--open", "--json"))
    assert {a["kind"] for a in alerts} >= {"charge_mismatch", "enable_code_withheld"}
    out = ok(runner, "headend", "resolve", "cli1")
    assert "1 charge-mismatch alert(s) resolved" in out
    later = at + timedelta(hours=1)
    down = m.accept(he.handle_uplink(m.uplink(later), later), later)
    assert down.enable_code is not None
    assert down.enable_code.acked_seq == 4
    result = runner.invoke(app, ["headend", "resolve", "ghost"])
    assert result.exit_code == 2
    he.close()


def test_listings_show_every_page_not_just_the_first(runner: CliRunner, tmp_path: Path) -> None:
    """More rejections than one page holds: the terminal lists them all."""
    from sealmeter.store import MAX_PAGE

    ok(runner, "headend", "keys", "init")
    ok(runner, "headend", "init")
    keys = BoxKeys.load(tmp_path / "box-keys.json", PASS.encode())
    he = HeadEnd.open(f"sqlite:///{tmp_path / 'he.db'}", keys)
    garbage = [b"\x01\x01" + i.to_bytes(4) for i in range(MAX_PAGE + 7)]
    he.handle_uplinks(garbage, T0)
    he.close()
    listed = json.loads(ok(runner, "headend", "rejections", "--json"))
    assert len(listed) == MAX_PAGE + 7
    assert len({r["rejection_id"] for r in listed}) == MAX_PAGE + 7
