"""The outputs: JSON ledger keys, the offline HTML report, the rich summary, the CLI."""

from __future__ import annotations

import contextlib
import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from sealmeter.cli import app
from sealmeter.sim import BillLine, Ledger, Outcome, render_report, summary_table

AT = datetime(2026, 1, 2, tzinfo=UTC)
COMPACT = Path(__file__).parent / "data" / "compact.toml"


def sample_ledger() -> Ledger:
    ledger = Ledger("all", "http", "sqlite", 3, meters=2, days=3)
    a = ledger.meter_units("m1")
    a.measured = a.counted = 100
    a.stored, a.queued = 90, 10
    b = ledger.meter_units("m2<script>")
    b.measured = b.counted = 50
    b.stored = 50
    inc = ledger.incident("attack", "forged_enable_code", "m1", AT, "rogue key")
    ledger.detected(inc, "meter", "DownlinkRejected", AT)
    ledger.incident("fault", "drop_uplink", "m2<script>", AT, "lost")
    ledger.alert("tamper", 1)
    ledger.usage_by_band.update(Counter({"1.8.1": 70, "1.8.2": 80}))
    ledger.units_by_day.update({0: 60, 1: 90})
    ledger.bills.append(BillLine("cust-1", 1, 1000, 0.3, "EUR", True))
    ledger.settle()
    return ledger


def test_the_json_has_every_key_the_issue_names() -> None:
    out = sample_ledger().as_json()
    assert {"meters", "days", "registrations", "units_lost", "units_invented", "wall_s"} <= set(out)
    assert set(out["attacks"]) >= {"tried", "accepted"}
    assert set(out["faults"]) >= {"injected", "survived"}
    assert out["attacks"] == {
        "tried": 1,
        "accepted": 0,
        "by_kind": {"forged_enable_code": {"tried": 1, "rejected": 1}},
    }
    assert out["faults"]["survived"] == 1
    json.dumps(out)


def test_conservation_is_checked_per_meter_so_errors_cannot_cancel() -> None:
    ledger = Ledger("x", "inproc", "sqlite", 1, meters=2, days=1)
    a, b = ledger.meter_units("a"), ledger.meter_units("b")
    a.measured = a.counted = b.measured = b.counted = 10
    a.stored, b.stored = 13, 7  # fleet total balances, meters do not
    assert ledger.units_lost == 3
    assert ledger.units_invented == 3
    ledger.incident("fault", "drop_uplink", "a", AT, "")
    ledger.settle()
    assert ledger.incidents[0].outcome is Outcome.LOST


def test_the_report_is_offline_html_with_charts_and_escaped_names() -> None:
    html = render_report(sample_ledger())
    assert html.startswith("<!doctype html>")
    assert html.count("<svg") >= 3
    assert "<script" not in html
    assert "m2&lt;script&gt;" in html
    assert not re.search(r"(src|href)=\"https?://", html)
    assert "forged_enable_code" in html
    assert "1.8.2" in html


def test_the_summary_table_shows_the_checks() -> None:
    console = Console(record=True, width=120)
    console.print(summary_table(sample_ledger()))
    text = console.export_text()
    assert "units lost" in text
    assert "attacks accepted" in text
    assert "FAIL" not in text


def test_simulate_prints_the_json_ledger_and_writes_the_report(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--scenario",
            str(COMPACT),
            "--meters",
            "3",
            "--days",
            "4",
            "--json",
            "--workdir",
            str(tmp_path),
            "--seed",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["meters"] == 3
    assert out["days"] == 4
    assert out["units_lost"] == 0
    assert (tmp_path / "report.html").read_text().startswith("<!doctype html>")
    saved = json.loads((tmp_path / "ledger.json").read_text())
    assert saved["incidents"] is not None


def test_simulate_names_a_bad_scenario() -> None:
    result = CliRunner().invoke(app, ["simulate", "--scenario", "nosuch"])
    assert result.exit_code == 2
    assert "no scenario named" in result.output


def test_simulate_refuses_a_bad_transport() -> None:
    result = CliRunner().invoke(app, ["simulate", "--transport", "pigeon"])
    assert result.exit_code != 0
    assert "transport" in result.output


def test_the_fleet_benchmark_reports_its_figures() -> None:
    from sealmeter.benchmarks.fleet import run_fleet_bench

    out = run_fleet_bench(meters=3, days=2, workers=2)
    assert out["meter_days"] == 6
    assert out["workers"] == 2
    assert out["meter_days_per_s"] > 0
    # crypto and the parts are summed over the workers, so they compare with worker time
    assert 0 < out["crypto_s"] < out["worker_s"]
    assert 0 < out["crypto_share"] < 1
    assert out["headend_ingest_s"] + out["meter_s"] < out["worker_s"]
    assert out["wall_s"] <= out["worker_s"]
    assert out["uplinks"] == 6  # one per meter-day, from both shards
    assert out["units"]["measured"] == out["units"]["counted"] == out["units"]["stored"] > 0
    assert out["units_lost"] == out["units_invented"] == 0
    assert out["bare_exchange_crypto_ms"] > 0


def test_the_fleet_benchmark_runs_unsharded_and_unbatched_too() -> None:
    from sealmeter.benchmarks.fleet import run_fleet_bench

    out = run_fleet_bench(meters=2, days=2, workers=1, batch_minutes=0, feed_minutes=60)
    assert (out["workers"], out["batch_minutes"], out["feed_minutes"]) == (1, 0, 60)
    assert out["wall_s"] == out["worker_s"]
    assert out["headend_ingest_s"] + out["meter_s"] < out["wall_s"]
    assert out["units_lost"] == out["units_invented"] == 0


def test_demo_runs_a_small_fleet_over_http(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["demo", "--meters", "2", "--days", "3", "--workdir", str(tmp_path)]
    )
    assert "units lost" in result.output
    assert "dashboard: sealmeter serve --db sqlite:///" in result.output
    assert (tmp_path / "report.html").exists()
    assert (tmp_path / "headend.db").exists()
    assert result.exit_code in (0, 1)  # 1 would mean a ledger check failed; it says which
    ledger = json.loads((tmp_path / "ledger.json").read_text())
    assert ledger["transport"] == "http"
    assert ledger["scenario"] == "all"
    healthy = (
        ledger["meters_stuck"] == 0
        and ledger["units_lost"] == ledger["units_invented"] == 0
        and ledger["attacks"]["accepted"] == 0
        and ledger["faults"]["survived"] == ledger["faults"]["injected"]
    )
    assert result.exit_code == (0 if healthy else 1)


def test_the_crypto_timer_counts_answer_keys_and_puts_everything_back() -> None:
    import sealmeter.protocol.answer as answer
    from sealmeter.benchmarks.fleet import crypto_timer
    from sealmeter.protocol import Suite, generate_keys
    from sealmeter.protocol._answerkey import derive_answer_key

    keys = generate_keys(Suite.EC_MODERN)
    original = answer.derive_answer_key
    with crypto_timer() as spent:
        assert answer.derive_answer_key is not original
        answer.derive_answer_key(
            Suite.EC_MODERN,
            b"\x01" * 32,
            b"a sealed call",
            meter_id="m1",
            meter_key_id=keys.key_id,
            headend_key_id=keys.key_id,
            nonce=b"\x02" * 16,
        )
        after_one = spent[0]
    assert after_one > 0
    assert answer.derive_answer_key is original is derive_answer_key


def test_simulate_twice_in_one_folder_runs_afresh_and_keeps_the_previous_store(
    tmp_path: Path,
) -> None:
    # before: the second run provisioned its fleet into the first run's store and stopped
    # ("schedule ... is not newer than the published version"), so `make demo` ran once only
    args = ["simulate", "--scenario", str(COMPACT), "--meters", "2", "--days", "2"]
    args += ["--json", "--workdir", str(tmp_path), "--seed", "3"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    stored = _uplinks(tmp_path / "headend.db")
    assert stored > 0
    second = CliRunner().invoke(app, args)
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout.strip().splitlines()[-1])["units_lost"] == 0
    assert _uplinks(tmp_path / "headend.previous.db") == stored  # the first run's, kept
    assert _uplinks(tmp_path / "headend.db") == stored  # the same seeded run, afresh


def _uplinks(db: Path) -> int:
    import sqlite3

    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT count(*) FROM uplinks").fetchone()[0])
