"""Benchmark of the head-end's ingest path against the bare protocol calls it wraps.

Many provisioned meters send real sealed uplinks (each carrying fresh registrations); the
head-end ingests them through the full path: verify, decrypt, check the MAC chain, recompute
charges, store exactly once and log the enable codes, and seal each answer. Beside it, in the
same run, the same `open_call` calls (signature verification, decryption, decoding, chain
check and the answer key's derivation, nothing else) give `crypto_bound_per_s`; adding the
answers' sealing (`seal_answer` under each call's key, as the full path does) gives
`crypto_with_answer_per_s`. The ratio says how much the head-end's own
work costs on top of the cryptography. With `workers > 1` the meters are split between that
many processes ingesting into the same database at once.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sealmeter.headend import BoxKeys, HeadEnd
from sealmeter.headend.testing import MeterSide
from sealmeter.protocol import (
    AnswerKey,
    CreditFrame,
    Downlink,
    EnableCode,
    HeadEndChain,
    PublicKeys,
    Suite,
    open_call,
    peek_header,
    seal_answer,
    seal_downlink,
)
from sealmeter.store import Store, drop_schema, open_engine

__all__ = ["DEFAULT_POSTGRES", "IngestBenchConfig", "run_ingest_bench"]

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
_T0 = datetime(2026, 1, 5, tzinfo=UTC)
_FRAME = CreditFrame(timedelta(days=7), Decimal("100.00"))
_USAGE = {"1.8.1": (900, Decimal("0.27")), "1.8.2": (400, Decimal("0.08"))}


@dataclass(frozen=True, slots=True)
class IngestBenchConfig:
    """What to run: the store, processes, fleet size and batching."""

    store: str = "sqlite"  # "sqlite" or "postgresql"
    workers: int = 1
    meters: int = 200
    rounds: int = 4  # uplinks per meter
    registrations_per_uplink: int = 24  # hourly registrations, one call a day
    batch: int = 64  # uplinks per transaction
    suite: str = Suite.EC_MODERN.value
    postgres_url: str = DEFAULT_POSTGRES
    seed: int = 7
    repeats: int = 3  # with several workers: alternating pairs of N and 1 processes


def _fleet(
    cfg: IngestBenchConfig, keys: BoxKeys
) -> tuple[list[MeterSide], list[list[tuple[str, bytes]]]]:
    """Meters and their uplinks, round by round (each round: one uplink per meter)."""
    suite = Suite.from_name(cfg.suite)
    rng = random.Random(cfg.seed)
    meters = [
        MeterSide(f"bench{i:05d}", keys.public(suite), random.Random(rng.random()), suite)
        for i in range(cfg.meters)
    ]
    rounds: list[list[tuple[str, bytes]]] = []
    for r in range(cfg.rounds):
        now = _T0 + timedelta(hours=r + 1)
        this: list[tuple[str, bytes]] = []
        for m in meters:
            for k in range(cfg.registrations_per_uplink):
                m.register(now - timedelta(minutes=k), _USAGE)
            this.append((m.meter_id, m.uplink(now)))
            m.queue.clear()  # as if acknowledged: the next uplink carries fresh registrations
        rounds.append(this)
    return meters, rounds


class _CryptoBound:
    """The bare protocol calls of the ingest, chain states kept in memory, timed batch by batch.

    The same calls the head-end makes: `open_call` per uplink (verify, decrypt, decode, chain
    check, and for a call the answer key's derivation), then per uplink the answer's sealing:
    `seal_answer` under the call's key, or `seal_downlink` for a plain uplink.
    """

    def __init__(self, keys: BoxKeys, meters: list[MeterSide]) -> None:
        suite = meters[0].suite
        self.private = keys.private(suite)
        self.pubs = {m.meter_id: PublicKeys.from_bytes(m.keys.public().to_bytes()) for m in meters}
        self.chains = {m.meter_id: HeadEndChain.start(m.chain_key) for m in meters}
        self.seconds = 0.0
        self.answer_seconds = 0.0

    def run(self, batch: list[bytes]) -> None:
        """Open every uplink of `batch`, then seal an answer to each, adding the times taken."""
        opened_at: list[tuple[str, bytes, int, AnswerKey | None]] = []
        start = time.perf_counter()
        for data in batch:
            meter_id = peek_header(data).meter_id
            opened, answer_key = open_call(
                data,
                headend=self.private,
                meter=self.pubs[meter_id],
                meter_id=meter_id,
                chain=self.chains[meter_id],
            )
            self.chains[meter_id] = opened.chain
            opened_at.append((meter_id, opened.uplink.nonce, opened.chain.last_seq, answer_key))
        middle = time.perf_counter()
        self.seconds += middle - start
        # the answer's crypto: seal an enable code like the head-end's for each uplink
        for meter_id, nonce, acked, answer_key in opened_at:
            code = EnableCode(meter_id, acked, nonce, _T0 + timedelta(days=2), _FRAME)
            down = Downlink(meter_id, _T0 + timedelta(days=1), nonce, enable_code=code)
            if answer_key is not None:
                seal_answer(down, headend=self.private, answer_key=answer_key)
            else:
                seal_downlink(down, headend=self.private, meter=self.pubs[meter_id])
        self.answer_seconds += time.perf_counter() - middle


def _crypto_bound(
    keys: BoxKeys, meters: list[MeterSide], rounds: list[list[tuple[str, bytes]]]
) -> tuple[float, float]:
    """Seconds for the bare `open_call` calls over every uplink, and for sealing answers."""
    bound = _CryptoBound(keys, meters)
    for uplinks in rounds:
        bound.run([u for _, u in uplinks])
    return bound.seconds, bound.answer_seconds


def _worker(
    url: str,
    schema: str | None,
    key_blob: bytes,
    passphrase: bytes,
    warm: list[list[bytes]],
    batches: list[list[bytes]],
    barrier: Any,
    out: Any,
) -> None:
    """One ingest process: open the store, warm up, wait for the start, ingest, report the end.

    It first becomes its own session, as a head-end process started as its own service
    would be: Linux's scheduler autogroups share the CPU per session, so processes left in
    the benchmark's session would split one session's share between them on a busy machine.
    """
    if hasattr(os, "setsid"):
        os.setsid()
    keys = BoxKeys.from_bytes(key_blob, passphrase)
    he = HeadEnd(Store.open(url, schema=schema), keys)
    now = _T0 + timedelta(days=1)
    for batch in warm:  # untimed: connections, statement caches, imports, page cache
        he.handle_uplinks(batch, now)
    barrier.wait()
    cpu0 = time.process_time()
    for batch in batches:
        he.handle_uplinks(batch, now)
    out.put((time.time(), time.process_time() - cpu0))
    he.close()


def _batches(uplinks: list[tuple[str, bytes]], size: int) -> list[list[bytes]]:
    return [[u for _, u in uplinks[i : i + size]] for i in range(0, len(uplinks), size)]


@dataclass(slots=True)
class _Run:
    elapsed: float  # seconds of the timed ingest
    timed_regs: int  # registrations ingested in that time
    crypto_s: float
    answer_s: float
    per_batch: list[tuple[float, float]]
    busy: float  # share of the wall-clock time the ingest processes spent on a CPU


def _one_run(
    cfg: IngestBenchConfig,
    keys: BoxKeys,
    meters: list[MeterSide],
    rounds: list[list[tuple[str, bytes]]],
    n_regs: int,
    processes: int | None = None,
) -> _Run:
    """Provision a fresh database, ingest every round, check the count, drop the database.

    `processes=None`: in this process, interleaved batch by batch with the bare crypto.
    Otherwise that many ingest processes (see `_processes`).
    """
    with tempfile.TemporaryDirectory(prefix="sealmeter-bench-") as tmp:
        schema: str | None = None
        if cfg.store == "sqlite":
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        elif cfg.store == "postgresql":
            url, schema = cfg.postgres_url, f"bench_{uuid.uuid4().hex[:12]}"
        else:
            raise ValueError(f"unknown store {cfg.store!r}; use sqlite or postgresql")
        per_batch: list[tuple[float, float]] = []
        setup = HeadEnd(Store.open(url, schema=schema), keys)
        try:
            for m in meters:
                setup.provision(m.provisioning(f"cust-{m.meter_id}"), _T0)
            if processes is None:
                elapsed, crypto_s, answer_s = _interleaved(
                    cfg, keys, setup, rounds, meters, per_batch
                )
                timed, busy = n_regs, 1.0
            else:
                elapsed, timed, busy = _processes(cfg, url, schema, keys, rounds, processes)
                crypto_s = answer_s = 0.0
            stored = setup.store.counts()["registrations"]
        finally:
            setup.close()
            _drop(url, schema)
    if stored != n_regs:
        raise RuntimeError(f"benchmark stored {stored} registrations, expected {n_regs}")
    return _Run(elapsed, timed, crypto_s, answer_s, per_batch, busy)


def run_ingest_bench(cfg: IngestBenchConfig = IngestBenchConfig()) -> dict[str, Any]:
    """Run the benchmark and return its figures as one JSON-ready dict.

    With several workers, runs of `workers` processes and of one process (the same worker
    code, the same warm-up) alternate `repeats` times on fresh databases; the medians are
    reported, so a burst of machine load does not decide the comparison.
    """
    load_before = os.getloadavg()[0]
    keys = BoxKeys.generate([Suite.from_name(cfg.suite)])
    meters, rounds = _fleet(cfg, keys)
    n_uplinks = sum(len(r) for r in rounds)
    n_regs = n_uplinks * cfg.registrations_per_uplink
    multi_rates: list[float] = []
    single_rates: list[float] = []
    multi_busy: list[float] = []
    single_busy: list[float] = []
    scaling: float | None = None
    if cfg.workers <= 1:
        run = _one_run(cfg, keys, meters, rounds, n_regs)
        elapsed, crypto_s, answer_s, per_batch = (
            run.elapsed,
            run.crypto_s,
            run.answer_s,
            run.per_batch,
        )
        full = n_regs / elapsed
    else:
        crypto_s, answer_s = _crypto_bound(keys, meters, rounds)
        per_batch = []
        for i in range(cfg.repeats):
            order = (cfg.workers, 1) if i % 2 == 0 else (1, cfg.workers)
            for n in order:
                r = _one_run(cfg, keys, meters, rounds, n_regs, processes=n)
                (multi_rates if n > 1 else single_rates).append(r.timed_regs / r.elapsed)
                (multi_busy if n > 1 else single_busy).append(r.busy)
        full = statistics.median(multi_rates)
        scaling = statistics.median(m / s for m, s in zip(multi_rates, single_rates, strict=True))
    crypto = n_regs / crypto_s
    with_answer = n_regs / (crypto_s + answer_s)
    if per_batch:  # median of the per-batch ratios: robust against bursts of machine load
        ratio = statistics.median(r for r, _ in per_batch)
        ratio_answer = statistics.median(r for _, r in per_batch)
    else:
        ratio, ratio_answer = full / crypto, full / with_answer
    return {
        "benchmark": "ingest",
        "store": cfg.store,
        "workers": cfg.workers,
        "suite": cfg.suite,
        "meters": cfg.meters,
        "uplinks": n_uplinks,
        "registrations": n_regs,
        "registrations_per_uplink": cfg.registrations_per_uplink,
        "batch": cfg.batch,
        "registrations_per_s": round(full, 1),
        "crypto_bound_per_s": round(crypto, 1),
        "ratio": round(ratio, 3),
        "ratio_of_totals": round(full / crypto, 3),
        "crypto_with_answer_per_s": round(with_answer, 1),
        "ratio_with_answer": round(ratio_answer, 3),
        "ratio_is": "median over batches of (bare crypto time / full path time) for the same "
        "uplinks, measured back to back"
        if per_batch
        else "ratio of the totals",
        "crypto_bound_is": "protocol open_call per uplink: signature verify, decrypt, decode, "
        "MAC-chain check, answer key derivation (no store, no answer); crypto_with_answer "
        "adds sealing one answer with an enable code per uplink under the call's key "
        "(seal_answer), which the full path also does",
        "workers_are": None
        if cfg.workers <= 1
        else f"{cfg.workers} spawned processes, each with its own database connection and "
        "its own share of the meters (every other meter); each first ingests its share of "
        "the first round untimed (warm-up), then all start together; wall clock from the "
        f"start to the last finish; {cfg.repeats} alternating pairs of N and 1 processes",
        "multi_worker_runs_per_s": [round(x, 1) for x in multi_rates] or None,
        "single_worker_runs_per_s": [round(x, 1) for x in single_rates] or None,
        "single_worker_registrations_per_s": round(statistics.median(single_rates), 1)
        if single_rates
        else None,
        "scaling_vs_one_worker": None if scaling is None else round(scaling, 3),
        "scaling_is": None
        if scaling is None
        else "median over the pairs of (N-process rate / 1-process rate)",
        "worker_cpu_busy": None
        if not multi_busy
        else {
            "multi": [round(x, 2) for x in multi_busy],
            "single": [round(x, 2) for x in single_busy],
            "is": "CPU seconds of the ingest processes / (wall-clock seconds x processes)",
        },
        "cpus": os.cpu_count(),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def _drop(url: str, schema: str | None) -> None:
    if schema is not None:
        engine = open_engine(url)
        drop_schema(engine, schema)
        engine.dispose()


def _interleaved(
    cfg: IngestBenchConfig,
    keys: BoxKeys,
    he: HeadEnd,
    rounds: list[list[tuple[str, bytes]]],
    meters: list[MeterSide],
    per_batch: list[tuple[float, float]],
) -> tuple[float, float, float]:
    """Seconds to ingest every round, of the bare opening and of the bare answers' sealing.

    The two are interleaved batch by batch (bare crypto, then the full path, on the same
    uplinks), so both see the same machine load.
    """
    now = _T0 + timedelta(days=1)
    bound = _CryptoBound(keys, meters)
    elapsed = 0.0
    for uplinks in rounds:
        for batch in _batches(uplinks, cfg.batch):
            crypto0, answer0 = bound.seconds, bound.answer_seconds
            bound.run(batch)
            start = time.perf_counter()
            he.handle_uplinks(batch, now)
            spent = time.perf_counter() - start
            elapsed += spent
            crypto_i = bound.seconds - crypto0
            per_batch.append(
                (crypto_i / spent, (crypto_i + bound.answer_seconds - answer0) / spent)
            )
    return elapsed, bound.seconds, bound.answer_seconds


def _processes(
    cfg: IngestBenchConfig,
    url: str,
    schema: str | None,
    keys: BoxKeys,
    rounds: list[list[tuple[str, bytes]]],
    n: int,
) -> tuple[float, int, float]:
    """`n` ingest processes, each owning every n-th meter (round order kept per process).

    Each ingests its share of the first round untimed (warm-up), then all start at once;
    returns the wall-clock seconds from the start to the last finish, the registrations
    ingested in that time, and the share of that time the workers spent on a CPU.
    """
    warm_rounds, timed_rounds = (rounds[:1], rounds[1:]) if len(rounds) > 1 else ([], rounds)
    passphrase = os.urandom(16).hex().encode()
    blob = keys.to_bytes(passphrase)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(n + 1)
    out = ctx.Queue()
    procs = []
    for w in range(n):

        def share(rs: list[list[tuple[str, bytes]]], w: int = w) -> list[list[bytes]]:
            mine: list[list[bytes]] = []
            for uplinks in rs:
                mine.extend(_batches([u for i, u in enumerate(uplinks) if i % n == w], cfg.batch))
            return mine

        p = ctx.Process(
            target=_worker,
            args=(
                url,
                schema,
                blob,
                passphrase,
                share(warm_rounds),
                share(timed_rounds),
                barrier,
                out,
            ),
        )
        p.start()
        procs.append(p)
    barrier.wait(timeout=600)
    start = time.time()
    reports: list[tuple[float, float]] = [out.get(timeout=600) for _ in procs]
    ends = [end for end, _ in reports]
    for p in procs:
        p.join(timeout=60)
        if p.exitcode != 0:
            raise RuntimeError(f"an ingest worker failed with exit code {p.exitcode}")
    timed = sum(len(r) for r in timed_rounds) * cfg.registrations_per_uplink
    elapsed = max(ends) - start
    return elapsed, timed, sum(cpu for _, cpu in reports) / (elapsed * n)
