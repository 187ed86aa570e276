"""The seeded fault-injecting link: each fault does what it says, is recorded, and is repeatable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from random import Random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealmeter.clock import SimClock
from sealmeter.transport import (
    FaultInjector,
    FaultKind,
    FaultPlan,
    FaultyCarrier,
    InProcessCarrier,
    TransportConfigError,
    TransportDropped,
    TransportError,
    TransportTimeout,
)

from .conftest import RecordingHandler, answer_for

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def bits_apart(a: bytes, b: bytes) -> int:
    assert len(a) == len(b)
    return sum(bin(x ^ y).count("1") for x, y in zip(a, b, strict=True))


class Net:
    """A small fleet of meters, each with its own recording handler behind a faulty link."""

    def __init__(self, seed: int, plan: FaultPlan, meters: int = 3) -> None:
        self.seed = seed
        self.clock = SimClock(T0)
        self.inj = FaultInjector(plan, Random(seed), self.clock)
        self.handlers = {f"m{i}": RecordingHandler() for i in range(meters)}
        self.links: dict[str, FaultyCarrier] = {
            m: self.inj.wrap(m, InProcessCarrier(h)) for m, h in self.handlers.items()
        }

    def warm_up(self) -> None:
        """One clean exchange per meter, so a man in the middle has history to replay."""
        plan, self.inj.plan = self.inj.plan, FaultPlan()
        for m, link in self.links.items():
            link.exchange(f"warm-up {m}".encode())
        self.inj.plan = plan


def only(kind: FaultKind, **extra: object) -> FaultPlan:
    return FaultPlan.from_mapping({kind.value: 1.0, **extra})


SEEDS = [0, 1, 7, 12345]


@pytest.mark.parametrize("seed", SEEDS)
def test_drop_uplink_never_reaches_the_head_end(seed: int) -> None:
    net = Net(seed, only(FaultKind.DROP_UPLINK))
    with pytest.raises(TransportDropped):
        net.links["m0"].exchange(b"u")
    assert net.handlers["m0"].seen == [], f"seed={seed}"
    assert [f.kind for f in net.links["m0"].last_faults] == [FaultKind.DROP_UPLINK]


@pytest.mark.parametrize("seed", SEEDS)
def test_drop_downlink_loses_the_answer_after_the_head_end_got_it(seed: int) -> None:
    net = Net(seed, only(FaultKind.DROP_DOWNLINK))
    with pytest.raises(TransportDropped):
        net.links["m0"].exchange(b"u")
    assert net.handlers["m0"].seen == [b"u"], f"seed={seed}"


@pytest.mark.parametrize("seed", SEEDS)
def test_duplicate_delivers_twice_and_answers(seed: int) -> None:
    net = Net(seed, only(FaultKind.DUPLICATE))
    assert net.links["m0"].exchange(b"u") == answer_for(b"u")
    assert net.handlers["m0"].seen == [b"u", b"u"], f"seed={seed}"


@pytest.mark.parametrize("seed", SEEDS)
def test_delay_holds_the_uplink_until_its_time_has_come(seed: int) -> None:
    plan = FaultPlan(delay=1.0, delay_min=timedelta(minutes=10), delay_max=timedelta(hours=1))
    net = Net(seed, plan)
    link = net.links["m0"]
    with pytest.raises(TransportTimeout):
        link.exchange(b"late")
    net.inj.plan = FaultPlan()
    net.clock.advance(timedelta(minutes=5))
    link.exchange(b"early")
    assert net.handlers["m0"].seen == [b"early"], f"seed={seed}"
    net.clock.advance(timedelta(hours=1))
    link.exchange(b"next")
    assert net.handlers["m0"].seen == [b"early", b"next", b"late"], f"seed={seed}"
    assert FaultKind.DELAY in [f.kind for f in link.last_faults]
    assert link.held == []


@pytest.mark.parametrize("seed", SEEDS)
def test_reorder_delivers_the_uplink_after_the_next_one(seed: int) -> None:
    net = Net(seed, only(FaultKind.REORDER))
    link = net.links["m0"]
    with pytest.raises(TransportTimeout):
        link.exchange(b"first")
    net.inj.plan = FaultPlan()
    assert link.exchange(b"second") == answer_for(b"second")
    assert net.handlers["m0"].seen == [b"second", b"first"], f"seed={seed}"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("flips", [1, 4])
def test_corrupt_uplink_flips_at_most_the_planned_bits(seed: int, flips: int) -> None:
    net = Net(seed, only(FaultKind.CORRUPT_UPLINK, max_bit_flips=flips))
    up = bytes(range(64))
    net.links["m0"].exchange(up)
    (got,) = net.handlers["m0"].seen
    assert 1 <= bits_apart(got, up) <= flips, f"seed={seed}"
    (fault,) = net.links["m0"].last_faults
    assert fault.answer == answer_for(got)
    assert fault.sent == got


@pytest.mark.parametrize("seed", SEEDS)
def test_corrupt_downlink_flips_bits_of_the_answer(seed: int) -> None:
    net = Net(seed, only(FaultKind.CORRUPT_DOWNLINK))
    down = net.links["m0"].exchange(b"u")
    assert 1 <= bits_apart(down, answer_for(b"u")) <= 4, f"seed={seed}"


@pytest.mark.parametrize("seed", range(20))
def test_modify_changes_the_message(seed: int) -> None:
    net = Net(seed, FaultPlan(modify_uplink=0.5, modify_downlink=0.5))
    net.warm_up()
    up = bytes(range(100))
    down = net.links["m1"].exchange(up)
    (fault,) = net.links["m1"].last_faults
    if fault.kind is FaultKind.MODIFY_UPLINK:
        assert net.handlers["m1"].seen[-1] != up, f"seed={seed}: {fault.detail}"
    else:
        assert down != answer_for(up), f"seed={seed}: {fault.detail}"


@pytest.mark.parametrize("seed", SEEDS)
def test_replay_uplink_sends_an_earlier_uplink_before_the_real_one(seed: int) -> None:
    net = Net(seed, only(FaultKind.REPLAY_UPLINK))
    net.warm_up()
    assert net.links["m0"].exchange(b"fresh") == answer_for(b"fresh")
    old, fresh = net.handlers["m0"].seen[-2:]
    assert fresh == b"fresh"
    (fault,) = net.links["m0"].last_faults
    assert old == f"warm-up {fault.other}".encode(), f"seed={seed}"
    assert fault.answer == answer_for(old)


@pytest.mark.parametrize("seed", SEEDS)
def test_replay_downlink_gives_an_earlier_answer(seed: int) -> None:
    net = Net(seed, only(FaultKind.REPLAY_DOWNLINK))
    net.warm_up()
    assert net.links["m0"].exchange(b"fresh") == answer_for(b"warm-up m0"), f"seed={seed}"


@pytest.mark.parametrize("seed", SEEDS)
def test_redirect_downlink_swaps_addressees(seed: int) -> None:
    net = Net(seed, only(FaultKind.REDIRECT_DOWNLINK))
    net.warm_up()
    down = net.links["m0"].exchange(b"fresh")
    (fault,) = net.links["m0"].last_faults
    assert fault.other in ("m1", "m2")
    assert down == answer_for(f"warm-up {fault.other}".encode()), f"seed={seed}"


@pytest.mark.parametrize("seed", SEEDS)
def test_redirect_uplink_lands_on_another_link_and_its_answer_reaches_that_meter(
    seed: int,
) -> None:
    net = Net(seed, only(FaultKind.REDIRECT_UPLINK))
    with pytest.raises(TransportTimeout):
        net.links["m0"].exchange(b"from m0")
    (fault,) = net.links["m0"].last_faults
    other = fault.other
    assert other in ("m1", "m2")
    assert net.handlers[other].seen == [b"from m0"], f"seed={seed}"
    net.inj.plan = FaultPlan()
    assert net.links[other].exchange(b"own") == answer_for(b"from m0")
    assert net.links[other].last_faults == (fault,)


def test_the_man_in_the_middle_needs_history_and_otherwise_passes_the_message() -> None:
    net = Net(3, FaultPlan(replay_uplink=0.5, replay_downlink=0.5), meters=1)
    assert net.links["m0"].exchange(b"u") == answer_for(b"u")
    assert net.inj.faults == []


@st.composite
def plans(draw: st.DrawFn) -> FaultPlan:
    weights = [draw(st.integers(0, 5)) for _ in FaultKind]
    clean = draw(st.integers(0, 20))
    total = sum(weights) + clean or 1
    table: dict[str, object] = {k.value: w / total for k, w in zip(FaultKind, weights, strict=True)}
    table["delay_max_s"] = 3600
    return FaultPlan.from_mapping(table)


def run_fleet(seed: int, plan: FaultPlan, steps: int) -> tuple[Net, list[tuple[str, bytes, str]]]:
    net = Net(seed, plan)
    outcomes: list[tuple[str, bytes, str]] = []
    order = Random(seed ^ 0x5EA1)
    for step in range(steps):
        meter = order.choice(sorted(net.links))
        up = f"{meter} step {step}".encode()
        net.clock.advance(timedelta(minutes=15))
        try:
            outcomes.append((meter, up, net.links[meter].exchange(up).hex()))
        except TransportError as exc:
            outcomes.append((meter, up, type(exc).__name__))
    return net, outcomes


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), plan=plans(), steps=st.integers(1, 40))
def test_same_seed_same_faults_and_same_outcomes(seed: int, plan: FaultPlan, steps: int) -> None:
    a, out_a = run_fleet(seed, plan, steps)
    b, out_b = run_fleet(seed, plan, steps)
    assert out_a == out_b
    assert a.inj.faults == b.inj.faults


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), plan=plans(), steps=st.integers(1, 40))
def test_no_uplink_vanishes_without_a_recorded_fault(
    seed: int, plan: FaultPlan, steps: int
) -> None:
    """Every uplink reaches some head-end intact, or a recorded fault says why it did not."""
    net, outcomes = run_fleet(seed, plan, steps)
    for link in net.links.values():
        link.flush()
    delivered = [u for h in net.handlers.values() for u in h.seen]
    lost_by_fault = {
        (f.meter, f.exchange)
        for f in net.inj.faults
        if f.kind in (FaultKind.DROP_UPLINK, FaultKind.CORRUPT_UPLINK, FaultKind.MODIFY_UPLINK)
    }
    counts = {m: 0 for m in net.links}
    for meter, up, _ in outcomes:
        counts[meter] += 1
        if up not in delivered:
            assert (meter, counts[meter]) in lost_by_fault, f"seed={seed}: {up!r} vanished"
    # faults are numbered in order and stamped with the simulated clock
    assert [f.index for f in net.inj.faults] == list(range(len(net.inj.faults)))
    assert all(T0 < f.at <= net.clock.now() for f in net.inj.faults)


def test_an_exchange_without_a_fault_leaves_no_record() -> None:
    net = Net(1, FaultPlan())
    for i in range(50):
        assert net.links["m0"].exchange(bytes([i])) == answer_for(bytes([i]))
        assert net.links["m0"].last_faults == ()
    assert net.inj.faults == []


@pytest.mark.parametrize(
    "table",
    [
        {"drop_uplink": 1.5},
        {"drop_uplink": -0.1},
        {"drop_uplink": 0.6, "duplicate": 0.6},
        {"teleport": 0.1},
        {"delay_min_s": 10, "delay_max_s": 5},
        {"max_bit_flips": 0},
        {"duplicate": "often"},
    ],
)
def test_a_bad_plan_is_refused_with_a_clear_error(table: dict[str, object]) -> None:
    with pytest.raises(TransportConfigError):
        FaultPlan.from_mapping(table)


def test_a_meter_is_wrapped_once() -> None:
    net = Net(0, FaultPlan(), meters=1)
    with pytest.raises(TransportConfigError, match="wrap it once"):
        net.inj.wrap("m0", InProcessCarrier(RecordingHandler()))


def test_attacks_and_network_faults_are_told_apart() -> None:
    attacks = {k for k in FaultKind if k.is_attack}
    assert FaultKind.REPLAY_UPLINK in attacks
    assert FaultKind.DROP_UPLINK not in attacks
    assert FaultKind.CORRUPT_DOWNLINK not in attacks


@pytest.mark.parametrize("seconds", [float("inf"), float("nan"), 1e300, -1e300])
def test_a_delay_that_is_no_timedelta_is_a_config_error(seconds: float) -> None:
    with pytest.raises(TransportConfigError, match="not a delay in seconds"):
        FaultPlan.from_mapping({"delay_max_s": seconds})
