"""The real fleet: meters and head-end with full crypto, through every scenario event.

Each test runs `tests/sim/data/compact.toml` (every fault, tamper act, attack and crash of
the shipped scenarios, squeezed into 12 days) and asserts the issue's expectations: every
attack rejected, every fault survived, conservation exact, each tamper reported.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from sealmeter.sim import Ledger, Outcome, SimOptions, load_scenario, run_simulation
from sealmeter.sim.wiring import build_world
from sealmeter.store import drop_schema, open_engine

COMPACT = Path(__file__).parent / "data" / "compact.toml"


def run_fleet(
    tmp_path: Path,
    transport: str = "inproc",
    *,
    seed: int = 3,
    store_url: str | None = None,
    mqtt: tuple[str, int] = ("127.0.0.1", 1883),
    scenario: str | Path = COMPACT,
    meters: int | None = None,
    days: int | None = None,
) -> Ledger:
    sc = load_scenario(scenario)
    n = meters or sc.fleet.meters
    d = days or sc.fleet.days
    world = build_world(sc.fleet, n, d, seed=seed, workdir=tmp_path, store_url=store_url)
    try:
        store = "postgresql" if store_url else "sqlite"
        options = SimOptions(sc, n, d, transport=transport, store=store, seed=seed, mqtt=mqtt)
        return run_simulation(world, options)
    finally:
        world.headend.close()
        schema = getattr(world.headend, "schema", None)
        if store_url and schema:
            engine = open_engine(store_url)
            try:
                drop_schema(engine, schema)
            finally:
                engine.dispose()


def check(ledger: Ledger) -> dict[str, Any]:
    out = ledger.as_json()
    seed = ledger.seed
    bad = [i.as_json() for i in ledger.incidents if not i.outcome.ok]
    assert bad == [], f"seed={seed}: incidents that got through: {bad}"
    assert out["units_lost"] == 0, f"seed={seed}"
    assert out["units_invented"] == 0, f"seed={seed}"
    assert out["units"]["measured"] > 0
    assert out["units"]["counted"] == out["units"]["measured"]
    assert out["attacks"]["accepted"] == 0
    assert out["faults"]["survived"] == out["faults"]["injected"]
    assert out["registrations"] > 0
    assert ledger.stuck == {}, f"seed={seed}: meters that never recovered"
    return out


def test_every_event_of_every_scenario_in_process(tmp_path: Path) -> None:
    ledger = run_fleet(tmp_path)
    out = check(ledger)
    kinds = set(out["attacks"]["by_kind"])
    assert {"forged_enable_code", "cloned_meter", "suite_downgrade", "modify_uplink"} <= kinds
    assert out["crashes"] == 2
    assert out["faults"]["by_kind"]["power_outage"]["injected"] > 0
    assert out["faults"]["injected"] > 10
    assert out["blocks"]["blocked"] >= 1, "a 6-day link outage outlasts the 4-day credit frame"
    assert out["blocks"]["unblocked"] >= 1
    tamper = [i for i in ledger.incidents if i.category == "tamper"]
    assert len(tamper) == 4
    assert all(i.outcome is Outcome.REJECTED and i.detected_by == "head-end" for i in tamper)
    assert out["bills"]["customers"] == 5
    assert out["bills"]["reconciled"]


def test_over_http_on_loopback(tmp_path: Path) -> None:
    out = check(run_fleet(tmp_path, "http", seed=4))
    assert out["transport"] == "http"
    assert out["crashes"] == 2


@pytest.mark.service
def test_over_mqtt_with_two_workers_on_postgresql(
    tmp_path: Path, mqtt_broker: tuple[str, int], postgres_url: str
) -> None:
    """Two head-end workers share the subscription and the PostgreSQL store: exactly once."""
    ledger = run_fleet(tmp_path, "mqtt", seed=5, store_url=postgres_url, mqtt=mqtt_broker)
    out = check(ledger)
    assert out["transport"] == "mqtt"
    assert len(out["worker_uplinks"]) == 2
    assert min(out["worker_uplinks"]) > 0, "both workers of the shared subscription worked"
    # exactly once: every stored (meter, seq) is unique and sums to what the meters counted
    units = out["units"]
    assert units["stored"] + units["queued"] == units["counted"]


def test_same_seed_same_ledger(tmp_path: Path) -> None:
    a = run_fleet(tmp_path / "a", seed=8, meters=3, days=5).as_json()
    b = run_fleet(tmp_path / "b", seed=8, meters=3, days=5).as_json()
    for out in (a, b):
        del out["wall_s"], out["crypto_share"]
    assert a == b


@pytest.mark.slow
@pytest.mark.parametrize("name", ["normal", "outages", "tamper", "network", "attacks", "crash"])
def test_each_shipped_scenario_in_process(tmp_path: Path, name: str) -> None:
    out = check(run_fleet(tmp_path, scenario=name, meters=3, days=72, seed=6))
    assert out["scenario"] == name


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["inproc", "http"])
def test_the_shipped_all_scenario(tmp_path: Path, transport: str) -> None:
    out = check(run_fleet(tmp_path, transport, scenario="all", meters=5, days=75, seed=2))
    assert out["crashes"] == 3
    assert out["attacks"]["tried"] >= 10


def _normal(meters: int, days: int) -> Any:
    from dataclasses import replace

    sc = load_scenario("normal")
    return replace(sc, fleet=replace(sc.fleet, meters=meters, days=days))


@pytest.mark.parametrize("window_minutes", [15, 180])
def test_batched_calls_conserve_every_unit_and_answer_every_meter(
    tmp_path: Path, window_minutes: int
) -> None:
    from datetime import timedelta

    sc = _normal(6, 5)
    world = build_world(sc.fleet, 6, 5, seed=4, workdir=tmp_path, feed_step=1, first_id=40)
    try:
        options = SimOptions(sc, 6, 5, seed=4, batch=timedelta(minutes=window_minutes))
        ledger = run_simulation(world, options)
    finally:
        world.headend.close()
    out = check(ledger)
    assert world.meters[0].meter_id == "m00040"
    assert out["uplinks"] == 6 * 5  # one call per meter-day, each answered
    assert out["units"]["stored"] + out["units"]["queued"] == out["units"]["measured"]
    assert out["exchanges_failed"] == 0
    assert out["meters_stuck"] == 0


def test_batched_calls_are_refused_where_the_carrier_or_crashes_matter(tmp_path: Path) -> None:
    from datetime import timedelta

    from sealmeter.sim import SimError

    sc = load_scenario(COMPACT)
    world = build_world(sc.fleet, 2, 2, seed=1, workdir=tmp_path)
    try:
        options = SimOptions(sc, 2, 2, seed=1, batch=timedelta(minutes=15))
        with pytest.raises(SimError, match=r"link faults.*crashes the head-end"):
            run_simulation(world, options)
        http = SimOptions(_normal(2, 2), 2, 2, transport="http", batch=timedelta(minutes=15))
        with pytest.raises(SimError, match="transport is http"):
            run_simulation(world, http)
    finally:
        world.headend.close()


def test_a_kill_before_commit_throws_away_everything_the_ingest_wrote(tmp_path: Path) -> None:
    """The real head-end, killed at its COMMIT, keeps nothing of that ingest; the same
    uplink afterwards is stored and answered as if the crash never happened."""
    sc = load_scenario("normal")
    world = build_world(sc.fleet, 2, 3, seed=5, workdir=tmp_path)
    try:
        he, meter = world.headend, world.meters[0]
        start = world.start
        energy = world.load(0, start.date())
        meter.feed(start, world.interval, energy[0])
        now = start + timedelta(days=1)
        uplink = meter.make_uplink(now)
        before = he.stored()
        assert he.die_before_commit(he.handle, uplink, now) is True
        he.restart()
        assert he.stored() == before  # nothing of the killed transaction survived
        assert he.verdict(uplink) is None  # the head-end never answered it
        answer = he.handle(uplink, now)
        meter.accept_downlink(answer, now)
        stored = he.stored()[meter.meter_id]
        assert len(stored) > len(before.get(meter.meter_id, {}))
        assert sum(stored.values()) == meter.counted_units() - meter.unstored_units(
            frozenset(stored)
        )
    finally:
        world.headend.close()
