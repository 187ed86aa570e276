"""The engine's accounting, on toy doubles of meter and head-end (see doubles.py).

These check the simulator itself: scheduling, fault and attack attribution, conservation
bookkeeping, determinism, and that a broken meter or a careless head-end is caught.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealmeter.sim import Outcome, SimOptions, load_scenario, parse_scenario, run_simulation
from sealmeter.transport import FaultKind, FaultPlan

from .doubles import toy_world


def run(name: str, meters: int = 8, days: int = 75, seed: int = 1, **kw: object) -> dict:
    scenario = load_scenario(name)
    world = toy_world(meters, seed, **kw)  # type: ignore[arg-type]
    ledger = run_simulation(world, SimOptions(scenario, meters, days, seed=seed))
    out = ledger.as_json()
    out["_ledger"] = ledger
    return out


def test_a_normal_run_conserves_every_unit_and_has_no_incidents() -> None:
    out = run("normal", days=20)
    assert out["units"]["measured"] > 0
    assert out["units"]["stored"] + out["units"]["queued"] == out["units"]["measured"]
    assert out["units_lost"] == 0
    assert out["units_invented"] == 0
    assert out["registrations"] >= 8 * 18
    assert out["faults"]["injected"] == 0
    assert out["attacks"]["tried"] == 0
    assert {
        "meters",
        "days",
        "registrations",
        "units_lost",
        "units_invented",
        "attacks",
        "faults",
        "wall_s",
    } <= set(out)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_flaky_network_is_survived_with_exact_conservation(seed: int) -> None:
    out = run("network", seed=seed)
    assert out["faults"]["injected"] > 10, f"seed={seed}"
    assert out["faults"]["survived"] == out["faults"]["injected"], f"seed={seed}"
    assert out["units_lost"] == 0, f"seed={seed}"
    assert out["units_invented"] == 0, f"seed={seed}"
    assert out["blocks"]["blocked"] >= 1, f"seed={seed}: a 12-day outage must block"
    assert out["blocks"]["unblocked"] >= 1, f"seed={seed}"


@pytest.mark.parametrize("seed", [1, 2])
def test_every_attack_is_tried_and_rejected(seed: int) -> None:
    out = run("attacks", seed=seed)
    tried = out["attacks"]["by_kind"]
    for kind in (
        "forged_enable_code",
        "cloned_meter",
        "clock_rollback",
        "suite_downgrade",
        "replay_uplink",
        "modify_uplink",
    ):
        assert kind in tried, f"seed={seed}: {kind} was never tried"
    assert out["attacks"]["accepted"] == 0, f"seed={seed}"
    assert out["units_lost"] == 0
    rows = [i for i in out["_ledger"].incidents if i.category == "attack"]
    assert all(i.outcome is Outcome.REJECTED for i in rows)
    assert all(i.detected_by for i in rows)


def test_a_careless_head_end_is_caught_accepting_attacks() -> None:
    out = run("attacks", careless=True)
    assert out["attacks"]["accepted"] > 0


def test_a_meter_that_loses_a_unit_is_caught() -> None:
    out = run("normal", days=5, lossy=True)
    assert out["units_lost"] == 8  # one unit per meter
    verdicts = [i.outcome for i in out["_ledger"].incidents]
    assert verdicts == []


def test_head_end_crashes_are_survived() -> None:
    out = run("crash")
    assert out["crashes"] == 3
    assert out["faults"]["by_kind"].keys() >= {"crash_before_commit", "crash_after_commit"}
    assert out["faults"]["survived"] == out["faults"]["injected"]
    assert out["units_lost"] == 0
    assert out["units_invented"] == 0


def test_a_head_end_whose_killed_transaction_leaves_rows_behind_is_caught() -> None:
    # the toy keeps what a transaction killed before COMMIT wrote, as a store without
    # atomic commits would: the crash must be reported as not survived
    out = run("crash", torn_commits=True)
    crashes = [i for i in out["_ledger"].incidents if i.kind == "crash_before_commit"]
    assert crashes
    assert all(i.outcome is Outcome.LOST for i in crashes)
    assert all("killed before COMMIT remain" in (i.reason or "") for i in crashes)
    assert out["faults"]["survived"] < out["faults"]["injected"]


def test_tamper_is_reported_and_power_outages_survived() -> None:
    out = run("all", meters=12)
    ledger = out["_ledger"]
    tamper = [i for i in ledger.incidents if i.category == "tamper"]
    assert tamper
    assert all(i.outcome is Outcome.REJECTED and i.detected_by == "head-end" for i in tamper)
    assert out["faults"]["by_kind"]["power_outage"]["injected"] > 0
    assert out["units_lost"] == 0
    assert out["units_invented"] == 0
    assert out["attacks"]["accepted"] == 0


def test_same_seed_same_ledger() -> None:
    a = run("all", meters=6, days=30, seed=9)
    b = run("all", meters=6, days=30, seed=9)
    for out in (a, b):
        out.pop("_ledger")
        out.pop("wall_s")
        out.pop("crypto_share")
    assert a == b


def test_events_past_the_end_of_a_short_run_are_skipped() -> None:
    scenario = parse_scenario(
        """
        [fleet]
        meters = 3
        days = 2
        [[attacks]]
        day = 50
        kind = "forged_enable_code"
        """
    )
    ledger = run_simulation(toy_world(3), SimOptions(scenario, 3, 2))
    assert ledger.as_json()["attacks"]["tried"] == 0


def test_the_meter_count_must_match_the_world() -> None:
    from sealmeter.sim import SimError

    with pytest.raises(SimError, match="meters"):
        run_simulation(toy_world(3), SimOptions(load_scenario("normal"), 4, 2))


def test_faults_can_be_switched_off() -> None:
    scenario = load_scenario("network")
    world = toy_world(4)
    ledger = run_simulation(world, replace(SimOptions(scenario, 4, 10), faults=False))
    kinds = ledger.as_json()["faults"]["by_kind"]
    assert set(kinds) <= {"network_outage"}


@pytest.mark.parametrize("transport", ["http", "mqtt"])
def test_the_all_scenario_over_real_carriers(
    transport: str, request: pytest.FixtureRequest
) -> None:
    mqtt = ("127.0.0.1", 1883)
    if transport == "mqtt":
        mqtt = request.getfixturevalue("mqtt_broker")
    world = toy_world(6, 4)
    options = SimOptions(load_scenario("all"), 6, 75, transport=transport, seed=4, mqtt=mqtt)
    out = run_simulation(world, options).as_json()
    assert out["transport"] == transport
    assert out["uplinks"] > 6 * 60
    assert out["units_lost"] == 0
    assert out["units_invented"] == 0
    assert out["attacks"]["accepted"] == 0
    assert out["faults"]["survived"] == out["faults"]["injected"]
    assert out["crashes"] == 3


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    weights=st.lists(st.integers(0, 4), min_size=len(FaultKind), max_size=len(FaultKind)),
    clean=st.integers(1, 30),
)
def test_any_fault_plan_any_seed_conserves_units_and_is_survived(
    seed: int, weights: list[int], clean: int
) -> None:
    """Whatever the link does, the toy fleet's ledger balances and every fault is survived."""
    total = sum(weights) + clean
    table: dict[str, object] = {k.value: w / total for k, w in zip(FaultKind, weights, strict=True)}
    scenario = replace(load_scenario("normal"), network=FaultPlan.from_mapping(table))
    ledger = run_simulation(toy_world(4, seed), SimOptions(scenario, 4, 12, seed=seed))
    out = ledger.as_json()
    assert out["units_lost"] == 0, f"seed={seed}"
    assert out["units_invented"] == 0, f"seed={seed}"
    assert out["attacks"]["accepted"] == 0, f"seed={seed}"
    assert out["faults"]["survived"] == out["faults"]["injected"], f"seed={seed}"
    assert out["meters_stuck"] == 0, f"seed={seed}"
