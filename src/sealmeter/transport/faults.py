"""A seeded fault-injecting link, usable around any carrier, with a record of every fault.

`FaultInjector` holds the plan (a probability per `FaultKind`), one `random.Random(seed)`, the
clock that stamps records, and a short history of the traffic of every link it made (the
man-in-the-middle's memory for replays and redirects). `FaultInjector.wrap(meter, carrier)`
returns a `FaultyCarrier`; each exchange suffers at most one fault, drawn from the plan. Every
fault injected is appended to `FaultInjector.faults` as an `InjectedFault`, and the faults that
touched a link's last exchange are in `FaultyCarrier.last_faults`, so a simulator's ledger can
say, for each one, how and when it was detected. Same seed, same calls: same faults.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from random import Random

from sealmeter.clock import Clock
from sealmeter.transport.carrier import Carrier
from sealmeter.transport.errors import TransportConfigError, TransportDropped, TransportTimeout

__all__ = ["FaultInjector", "FaultKind", "FaultPlan", "FaultyCarrier", "InjectedFault"]

_HISTORY = 16


class FaultKind(enum.Enum):
    """What the link did to one exchange."""

    DROP_UPLINK = "drop_uplink"
    """The uplink never reached the head-end; the meter sees a dropped exchange."""
    DROP_DOWNLINK = "drop_downlink"
    """The head-end got and answered the uplink, but the answer was lost."""
    DUPLICATE = "duplicate"
    """The uplink reached the head-end twice; the meter gets the second answer."""
    DELAY = "delay"
    """The uplink is held for a while (simulated time) and delivered late; the meter times out."""
    REORDER = "reorder"
    """The uplink is held and delivered after the link's next uplink; the meter times out."""
    CORRUPT_UPLINK = "corrupt_uplink"
    """Random bits of the uplink were flipped on the way."""
    CORRUPT_DOWNLINK = "corrupt_downlink"
    """Random bits of the downlink were flipped on the way."""
    MODIFY_UPLINK = "modify_uplink"
    """A man in the middle truncated, extended or spliced the uplink."""
    MODIFY_DOWNLINK = "modify_downlink"
    """A man in the middle truncated, extended or spliced the downlink."""
    REPLAY_UPLINK = "replay_uplink"
    """A man in the middle sent an earlier uplink (of any meter) again, before the real one."""
    REPLAY_DOWNLINK = "replay_downlink"
    """A man in the middle gave the meter an earlier downlink of its own instead of the new one."""
    REDIRECT_UPLINK = "redirect_uplink"
    """The uplink went out on another meter's link; its answer reaches that other meter."""
    REDIRECT_DOWNLINK = "redirect_downlink"
    """The meter got another meter's latest downlink (addressees swapped); its own is lost."""

    @property
    def is_attack(self) -> bool:
        """True for deliberate man-in-the-middle acts, False for the network's own faults."""
        return self.name.startswith(("MODIFY", "REPLAY", "REDIRECT"))


@dataclass(frozen=True)
class FaultPlan:
    """Probability per exchange of each fault (their sum at most 1) and the delay range.

    Field names are the `FaultKind` values, so a scenario file can give them as a table.
    """

    drop_uplink: float = 0.0
    drop_downlink: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    reorder: float = 0.0
    corrupt_uplink: float = 0.0
    corrupt_downlink: float = 0.0
    modify_uplink: float = 0.0
    modify_downlink: float = 0.0
    replay_uplink: float = 0.0
    replay_downlink: float = 0.0
    redirect_uplink: float = 0.0
    redirect_downlink: float = 0.0
    delay_min: timedelta = timedelta(minutes=1)
    delay_max: timedelta = timedelta(hours=6)
    max_bit_flips: int = 4

    def __post_init__(self) -> None:
        """Reject probabilities outside [0, 1], a sum above 1 and an empty delay range."""
        total = 0.0
        for kind in FaultKind:
            p = self.probability(kind)
            if not 0.0 <= p <= 1.0:
                raise TransportConfigError(
                    f"fault probability {kind.value}={p} is outside [0, 1]; fix the plan"
                )
            total += p
        if total > 1.0 + 1e-9:
            raise TransportConfigError(
                f"fault probabilities add up to {total:.3f} > 1; at most one fault per exchange"
            )
        if not timedelta(0) <= self.delay_min <= self.delay_max:
            raise TransportConfigError(
                f"delay range {self.delay_min}..{self.delay_max} is empty or negative"
            )
        if self.max_bit_flips < 1:
            raise TransportConfigError(f"max_bit_flips must be at least 1: {self.max_bit_flips}")

    def probability(self, kind: FaultKind) -> float:
        """The probability of `kind` on one exchange."""
        value: float = getattr(self, kind.value)
        return value

    @classmethod
    def from_mapping(cls, table: dict[str, object]) -> FaultPlan:
        """Build a plan from a scenario table (`{"drop_uplink": 0.02, "delay_max_s": 600}`)."""
        known = {f.name for f in fields(cls)}
        args: dict[str, object] = {}
        for key, value in table.items():
            if key in ("delay_min_s", "delay_max_s") and isinstance(value, int | float):
                try:  # NaN, infinities and spans past timedelta's range are no delay
                    args[key[:-2]] = timedelta(seconds=float(value))
                except (OverflowError, ValueError):
                    raise TransportConfigError(
                        f"fault plan {key}={value!r} is not a delay in seconds; give a finite "
                        "number of seconds (at most a few years)"
                    ) from None
            elif key in known and not key.startswith("delay_m"):
                args[key] = value
            else:
                raise TransportConfigError(
                    f"unknown fault plan key {key!r}; use one of "
                    f"{sorted(k.value for k in FaultKind)} or delay_min_s/delay_max_s/max_bit_flips"
                )
        for key, value in args.items():
            wrong = (
                not isinstance(value, int)
                if key == "max_bit_flips"
                else not isinstance(value, int | float | timedelta)
            )
            if wrong or isinstance(value, bool):
                raise TransportConfigError(f"fault plan key {key!r} has a bad value {value!r}")
        return cls(**args)  # type: ignore[arg-type]


@dataclass(frozen=True)
class InjectedFault:
    """One fault the link injected: what, when (clock time), to which meter and exchange.

    `sent` is the tampered or replayed uplink bytes the head-end received and `answer` what it
    replied (so the caller can check it was rejected); `other` names the second meter of a
    redirect or the meter whose uplink was replayed.
    """

    index: int
    kind: FaultKind
    at: datetime
    meter: str
    exchange: int
    detail: str
    other: str | None = None
    answer: bytes | None = None
    sent: bytes | None = None


@dataclass
class _Held:
    uplink: bytes
    due: datetime | None
    after_exchange: int | None
    fault: int


class FaultInjector:
    """Seeded source of faults shared by the links of a fleet, and the record of them all."""

    def __init__(self, plan: FaultPlan, rng: Random, clock: Clock) -> None:
        """Inject faults per `plan`, drawing from `rng`, stamping records with `clock`."""
        self.plan = plan
        self.rng = rng
        self.clock = clock
        self.faults: list[InjectedFault] = []
        self._links: dict[str, FaultyCarrier] = {}
        self._uplinks: dict[str, deque[bytes]] = {}
        self._downlinks: dict[str, deque[bytes]] = {}

    def wrap(self, meter: str, carrier: Carrier) -> FaultyCarrier:
        """Return a faulty version of `meter`'s carrier, remembered for replays/redirects."""
        if meter in self._links:
            raise TransportConfigError(f"meter {meter!r} already has a faulty link; wrap it once")
        link = FaultyCarrier(self, meter, carrier)
        self._links[meter] = link
        self._uplinks[meter] = deque(maxlen=_HISTORY)
        self._downlinks[meter] = deque(maxlen=_HISTORY)
        return link

    def _record(
        self,
        kind: FaultKind,
        meter: str,
        exchange: int,
        detail: str,
        other: str | None = None,
        answer: bytes | None = None,
        sent: bytes | None = None,
    ) -> InjectedFault:
        fault = InjectedFault(
            len(self.faults), kind, self.clock.now(), meter, exchange, detail, other, answer, sent
        )
        self.faults.append(fault)
        return fault

    def _draw(self) -> FaultKind | None:
        u = self.rng.random()
        acc = 0.0
        for kind in FaultKind:
            acc += self.plan.probability(kind)
            if u < acc:
                return kind
        return None

    def _other_meter(self, meter: str, need_downlink: bool) -> str | None:
        others = [
            m for m in self._links if m != meter and (self._downlinks[m] if need_downlink else True)
        ]
        return self.rng.choice(others) if others else None

    def _flip_bits(self, data: bytes) -> tuple[bytes, str]:
        if not data:
            return b"\x01", "empty message replaced by one byte"
        out = bytearray(data)
        n = self.rng.randint(1, self.plan.max_bit_flips)
        spots = sorted({self.rng.randrange(len(out) * 8) for _ in range(n)})
        for bit in spots:
            out[bit // 8] ^= 1 << (bit % 8)
        return bytes(out), f"flipped bits {spots}"

    def _modify(self, data: bytes, meter: str) -> tuple[bytes, str]:
        how = self.rng.choice(["truncate", "extend", "splice", "set_byte"])
        if how == "truncate" and len(data) > 1:
            cut = self.rng.randrange(1, len(data))
            return data[:cut], f"truncated to {cut} of {len(data)} bytes"
        if how == "splice":
            donors = [u for m, q in self._uplinks.items() if m != meter for u in q]
            if donors and data:
                donor = self.rng.choice(donors)
                at = self.rng.randrange(len(data))
                span = self.rng.randint(1, 16)
                patch = donor[at : at + span] or b"\x00"
                out = data[:at] + patch + data[at + len(patch) :]
                if out != data:
                    return out, f"spliced {len(patch)} bytes of another meter's uplink at {at}"
        if how == "set_byte" and data:
            at = self.rng.randrange(len(data))
            value = (data[at] + self.rng.randint(1, 255)) % 256
            return data[:at] + bytes([value]) + data[at + 1 :], f"set byte {at} to {value}"
        extra = self.rng.randbytes(self.rng.randint(1, 32))
        return data + extra, f"appended {len(extra)} bytes"


class FaultyCarrier:
    """A carrier that passes exchanges to an inner carrier, injecting the injector's faults."""

    def __init__(self, injector: FaultInjector, meter: str, inner: Carrier) -> None:
        """Made by `FaultInjector.wrap`; `inner` is the real carrier of `meter`."""
        self._inj = injector
        self.meter = meter
        self.inner = inner
        self.exchanges = 0
        self.last_faults: tuple[InjectedFault, ...] = ()
        """Faults that touched the last exchange (including ones redirected here)."""
        self.held: list[_Held] = []
        self._inbound: list[tuple[bytes, InjectedFault]] = []

    def _remember(self, uplink: bytes, downlink: bytes | None) -> None:
        self._inj._uplinks[self.meter].append(uplink)
        if downlink is not None:
            self._inj._downlinks[self.meter].append(downlink)

    def _release_held(self, now: datetime, touched: list[InjectedFault]) -> None:
        keep: list[_Held] = []
        for held in self.held:
            due = (held.due is not None and now >= held.due) or (
                held.after_exchange is not None and self.exchanges >= held.after_exchange
            )
            if not due:
                keep.append(held)
                continue
            try:
                self.inner.exchange(held.uplink)
            except (TransportDropped, TransportTimeout):
                keep.append(held)
                continue
            touched.append(self._inj.faults[held.fault])
        self.held = keep

    def flush(self) -> int:
        """Deliver every held uplink now (end of a simulation); return how many went out."""
        sent = 0
        for held in self.held:
            self.inner.exchange(held.uplink)
            sent += 1
        self.held = []
        return sent

    def exchange(self, uplink: bytes) -> bytes:
        """Run one exchange through the inner carrier with at most one injected fault."""
        inj = self._inj
        self.exchanges += 1
        n = self.exchanges
        now = inj.clock.now()
        touched: list[InjectedFault] = []
        self.last_faults = ()
        try:
            return self._exchange(uplink, n, now, touched)
        finally:
            self.last_faults = tuple(touched)

    def _exchange(
        self, uplink: bytes, n: int, now: datetime, touched: list[InjectedFault]
    ) -> bytes:
        inj = self._inj
        kind = inj._draw()
        if kind is FaultKind.REORDER:
            # hold this uplink until after the next one; release nothing else first
            f = inj._record(kind, self.meter, n, "held until after the next uplink")
            self.held.append(_Held(uplink, None, n + 1, f.index))
            touched.append(f)
            raise TransportTimeout("injected reorder: the uplink is held back by the link")
        if kind is FaultKind.DELAY:
            span = inj.plan.delay_max - inj.plan.delay_min
            delay = inj.plan.delay_min + span * inj.rng.random()
            f = inj._record(kind, self.meter, n, f"held for {delay}")
            self.held.append(_Held(uplink, now + delay, None, f.index))
            touched.append(f)
            raise TransportTimeout("injected delay: the uplink is held back by the link")
        if kind is FaultKind.DROP_UPLINK:
            touched.append(inj._record(kind, self.meter, n, "uplink lost"))
            raise TransportDropped("injected drop: the uplink was lost on the way")
        if kind is FaultKind.REDIRECT_UPLINK:
            other = inj._other_meter(self.meter, need_downlink=False)
            if other is not None:
                answer = inj._links[other].inner.exchange(uplink)
                f = inj._record(kind, self.meter, n, f"uplink sent on {other}'s link", other)
                inj._links[other]._inbound.append((answer, f))
                touched.append(f)
                self._remember(uplink, None)
                raise TransportTimeout("injected redirect: the answer went to another meter")
            kind = None
        if kind is FaultKind.REPLAY_UPLINK:
            pool = [(m, u) for m, q in inj._uplinks.items() for u in q]
            if pool:
                victim, old = inj.rng.choice(pool)
                answer = self.inner.exchange(old)
                touched.append(
                    inj._record(
                        kind, self.meter, n, f"replayed an uplink of {victim}", victim, answer, old
                    )
                )
            kind = None if not pool else kind
        sent = uplink
        if kind in (FaultKind.CORRUPT_UPLINK, FaultKind.MODIFY_UPLINK):
            if kind is FaultKind.CORRUPT_UPLINK:
                sent, detail = inj._flip_bits(uplink)
            else:
                sent, detail = inj._modify(uplink, self.meter)
            answer = self.inner.exchange(sent)
            touched.append(inj._record(kind, self.meter, n, detail, None, answer, sent))
            self._release_held(now, touched)
            self._remember(uplink, None)
            return self._deliver(answer, touched)
        downlink = self.inner.exchange(sent)
        if kind is FaultKind.DUPLICATE:
            downlink = self.inner.exchange(sent)
            touched.append(inj._record(kind, self.meter, n, "uplink delivered twice"))
        self._release_held(now, touched)
        if kind is FaultKind.DROP_DOWNLINK:
            touched.append(inj._record(kind, self.meter, n, "downlink lost"))
            self._remember(uplink, downlink)
            raise TransportDropped("injected drop: the answer was lost on the way")
        if kind is FaultKind.REPLAY_DOWNLINK and inj._downlinks[self.meter]:
            old = inj.rng.choice(list(inj._downlinks[self.meter]))
            touched.append(inj._record(kind, self.meter, n, "an earlier downlink replayed"))
            self._remember(uplink, downlink)
            return old
        if kind is FaultKind.REDIRECT_DOWNLINK:
            other = inj._other_meter(self.meter, need_downlink=True)
            if other is not None:
                swapped = inj._downlinks[other][-1]
                touched.append(
                    inj._record(kind, self.meter, n, f"got {other}'s latest downlink", other)
                )
                self._remember(uplink, downlink)
                return swapped
        self._remember(uplink, downlink)
        if kind is FaultKind.CORRUPT_DOWNLINK:
            out, detail = inj._flip_bits(downlink)
            touched.append(inj._record(kind, self.meter, n, detail))
            return out
        if kind is FaultKind.MODIFY_DOWNLINK:
            out, detail = inj._modify(downlink, self.meter)
            touched.append(inj._record(kind, self.meter, n, detail))
            return out
        return self._deliver(downlink, touched)

    def _deliver(self, downlink: bytes, touched: list[InjectedFault]) -> bytes:
        """Hand the meter its downlink, unless a redirected one is waiting to take its place."""
        if self._inbound:
            foreign, fault = self._inbound.pop(0)
            touched.append(fault)
            return foreign
        return downlink
