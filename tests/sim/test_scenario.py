"""Scenario files: the shipped ones load, includes merge, and bad files get clear errors."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from sealmeter.sim import (
    AttackKind,
    ScenarioError,
    TamperAct,
    list_scenarios,
    load_scenario,
    parse_scenario,
)

DATA = Path(__file__).parent / "data"
BAD = json.loads((DATA / "bad_scenarios.json").read_text())["cases"]


def test_the_seven_scenarios_are_shipped() -> None:
    assert set(list_scenarios()) == {
        "normal",
        "outages",
        "tamper",
        "network",
        "attacks",
        "crash",
        "all",
    }


@pytest.mark.parametrize("name", ["normal", "outages", "tamper", "network", "attacks", "crash"])
def test_all_includes_every_event_of_each_scenario(name: str) -> None:
    part = load_scenario(name)
    whole = load_scenario("all")
    assert set(part.power_outages) <= set(whole.power_outages)
    assert set(part.network_outages) <= set(whole.network_outages)
    assert set(part.tamper) <= set(whole.tamper)
    assert set(part.attacks) <= set(whole.attacks)
    assert set(part.crashes) <= set(whole.crashes)
    for key, p in part.network_table.items():
        assert whole.network_table[key] >= p


def test_each_scenario_has_what_its_name_promises() -> None:
    assert {t.kind for t in load_scenario("tamper").tamper} == set(TamperAct)
    assert {a.kind for a in load_scenario("attacks").attacks} >= {
        AttackKind.FORGED_ENABLE_CODE,
        AttackKind.CLONED_METER,
        AttackKind.CLOCK_ROLLBACK,
        AttackKind.SUITE_DOWNGRADE,
        AttackKind.REPLAY_UPLINK,
        AttackKind.MODIFY_UPLINK,
    }
    assert load_scenario("crash").crashes
    assert load_scenario("outages").power_outages
    net = load_scenario("network")
    assert net.network_outages
    assert any(d.days > net.fleet.credit_frame_days for d in net.network_outages)
    assert load_scenario("normal").network_table == {}


def test_a_scenario_file_by_path_with_an_include(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        'name = "mine"\ninclude = ["tamper"]\n[fleet]\nmeters = 7\nstart = 2026-05-01\n'
        "[network]\ndrop_uplink = 0.1\n"
    )
    sc = load_scenario(path)
    assert sc.name == "mine"
    assert sc.fleet.meters == 7
    assert sc.fleet.start == date(2026, 5, 1)
    assert sc.fleet.days == load_scenario("tamper").fleet.days
    assert sc.tamper == load_scenario("tamper").tamper
    assert sc.network.drop_uplink == pytest.approx(0.1)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "absent.toml")


@pytest.mark.parametrize("case", BAD, ids=[c["says"] for c in BAD])
def test_a_bad_scenario_is_refused_with_a_clear_error(case: dict[str, str]) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(case["toml"], origin="case.toml")
    assert case["says"] in str(info.value)
    assert "case.toml" in str(info.value) or "scenario" in str(info.value)
