"""Commands of the `meter` part: drive one security module from the terminal.

A meter lives in a state directory: `nvm.img` (its EEPROM image, saved atomically after every
command) and `device.key` (the simulated key fused into the chip, which seals the private and
chain keys inside the image). `sealmeter meter lab-box` is a stand-in head-end for trying the
meter without a server; the real one is `sealmeter headend`.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from sealmeter.meter import Meter

__all__ = ["register"]

IMAGE = "nvm.img"
_MAX_DAYS = 36_500  # a century: the longest span a meter option may give
DEVICE_KEY = "device.key"

Dir = Annotated[Path, typer.Argument(help="The meter's state directory.")]
At = Annotated[
    str | None,
    typer.Option("--at", help="Meter time (ISO 8601 with offset); default: the meter's own."),
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]

meter_app = typer.Typer(
    help="Drive one security module: create, provision, feed, show, uplink, downlink.",
    no_args_is_help=True,
)
lab_app = typer.Typer(
    help="A stand-in head-end for trying a meter without a server (not for production).",
    no_args_is_help=True,
)
meter_app.add_typer(lab_app, name="lab-box")


def _fail(message: object) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _when(text: str | None, default: datetime) -> datetime:
    if text is None:
        return default
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(f"{text!r} is not an ISO 8601 time like 2026-03-01T00:00:00+00:00") from None
    if when.tzinfo is None:
        raise _fail(f"{text!r} has no UTC offset; add one (e.g. +00:00 or Z)")
    return when.astimezone(UTC)


def _boot(directory: Path) -> Meter:
    from sealmeter.meter import Meter
    from sealmeter.nvm import Eeprom, load

    image, key = directory / IMAGE, directory / DEVICE_KEY
    if not image.is_file() or not key.is_file():
        raise _fail(f"{directory} holds no meter; create one with `sealmeter meter create`")
    device = load(image)
    if not isinstance(device, Eeprom):
        raise _fail(f"{image} is not an EEPROM image of a meter")
    return Meter.boot(device, key.read_bytes())


def _save(meter: Meter, directory: Path) -> None:
    from sealmeter.nvm import save

    save(meter.device, directory / IMAGE)


def _meter_time(meter: Meter) -> datetime:
    fed = meter.journal.fed_until
    return fed if fed is not None else datetime.now(UTC)


def _guard(action: Any) -> Any:
    """Run `action`, turning sealmeter's typed errors into a clear message and exit code 2."""
    from sealmeter.errors import SealmeterError

    try:
        return action()
    except SealmeterError as exc:
        raise _fail(exc) from None


@meter_app.command("create")
def create(
    directory: Dir,
    meter_id: Annotated[str, typer.Option("--id", help="The meter's id (1-64 bytes).")],
    at: At = None,
    unit_wh: Annotated[int, typer.Option(help="Energy of one counter unit, Wh.")] = 1,
    credit_days: Annotated[
        float, typer.Option(help="Credit frame: days without an enable code (0: none).")
    ] = 7.0,
    credit_limit: Annotated[
        str | None, typer.Option(help="Credit frame: outstanding charge limit (money).")
    ] = None,
    period_hours: Annotated[float, typer.Option(help="Registration period, hours.")] = 24.0,
    call_period_hours: Annotated[
        float, typer.Option(help="The watchdog calls once per this many hours.")
    ] = 24.0,
    schedule: Annotated[
        list[str] | None,
        typer.Option(help="Initial rate schedule file (or shipped:NAME); repeatable."),
    ] = None,
) -> None:
    """Manufacture a meter in DIRECTORY: format its EEPROM, fuse a device key."""
    from sealmeter.meter import NVM_SIZE, CallPolicy, CreditFrame, Meter, MeterConfig
    from sealmeter.nvm import Eeprom

    for name, value, most in (
        ("--credit-days", credit_days, _MAX_DAYS),
        ("--period-hours", period_hours, _MAX_DAYS * 24),
        ("--call-period-hours", call_period_hours, _MAX_DAYS * 24),
    ):
        if not (math.isfinite(value) and 0 <= value <= most):
            raise _fail(f"{name} {value} must be a number from 0 to {most}")
    try:
        limit = None if credit_limit is None else Decimal(credit_limit)
    except InvalidOperation:
        raise _fail(f"--credit-limit {credit_limit!r} is not an amount like 150.00") from None
    if limit is not None and not limit.is_finite():
        raise _fail(f"--credit-limit {credit_limit!r} must be a finite amount")
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / IMAGE).exists():
        raise _fail(f"{directory} already holds a meter; use another directory")
    now = _when(at, datetime.now(UTC).replace(microsecond=0))
    schedules = tuple(_load_schedule(s) for s in schedule or [])

    def make() -> Meter:
        frame = CreditFrame(
            timedelta(days=credit_days) if credit_days > 0 else None,
            limit,
        )
        config = MeterConfig(
            meter_id,
            unit_wh=unit_wh,
            period=timedelta(hours=period_hours),
            credit=frame,
            calls=CallPolicy(period=timedelta(hours=call_period_hours)),
        )
        key = secrets.token_bytes(32)
        meter = Meter.manufacture(Eeprom(NVM_SIZE), key, config, now)
        key_path = directory / DEVICE_KEY
        key_path.write_bytes(key)
        os.chmod(key_path, 0o600)
        if schedules:
            meter.install_schedules(schedules, now)
        return meter

    meter = _guard(make)
    _save(meter, directory)
    typer.echo(f"meter {meter_id} manufactured in {directory} at {now.isoformat()}")


def _load_schedule(spec: str) -> Any:
    from sealmeter.errors import SealmeterError
    from sealmeter.tariff import load_schedule, load_shipped

    try:
        if spec.startswith("shipped:"):
            return load_shipped(spec[len("shipped:") :])
        return load_schedule(spec)
    except SealmeterError as exc:
        raise _fail(exc) from None


@meter_app.command("provision")
def provision(
    directory: Dir,
    headend_keys: Annotated[
        Path, typer.Option(help="The head-end's public keys (PublicKeys bytes).")
    ],
    export: Annotated[
        Path, typer.Option(help="Where to write the export for the head-end (JSON).")
    ],
    suite: Annotated[str | None, typer.Option(help="Crypto suite (default: the keys').")] = None,
    public_keys_out: Annotated[
        Path | None, typer.Option(help="Also write the meter's public keys here (raw bytes).")
    ] = None,
    chain_key_out: Annotated[
        Path | None, typer.Option(help="Also write K_0 here (32 raw bytes, secret).")
    ] = None,
    at: At = None,
) -> None:
    """Key exchange at manufacture (Fig. 3): generate the meter's keys and export them."""
    from sealmeter.protocol import PublicKeys, Suite

    meter = _boot(directory)
    now = _when(at, _meter_time(meter))
    try:
        box = PublicKeys.from_bytes(headend_keys.read_bytes())
    except OSError as exc:
        raise _fail(f"cannot read {headend_keys}: {exc.strerror}") from None
    except Exception as exc:
        raise _fail(f"{headend_keys} holds no head-end public keys: {exc}") from None
    chosen = None if suite is None else _guard(lambda: Suite.from_name(suite))
    result = _guard(lambda: meter.provision(box, now, chosen))
    export.write_text(result.to_json() + "\n")
    os.chmod(export, 0o600)
    if public_keys_out is not None:
        public_keys_out.write_bytes(result.public_keys)
    if chain_key_out is not None:
        chain_key_out.write_bytes(result.chain_key)
        os.chmod(chain_key_out, 0o600)
    _save(meter, directory)
    typer.echo(
        f"meter {meter.meter_id} provisioned ({result.suite.value}); export with K_0 in "
        f"{export}: deliver it to the head-end over a protected channel"
    )


@meter_app.command("feed")
def feed(
    directory: Dir,
    samples: Annotated[
        Path | None, typer.Option(help="A recorded t,u,i capture (.csv or .npy).")
    ] = None,
    start: Annotated[str | None, typer.Option(help="Capture start time (ISO 8601).")] = None,
    profile: Annotated[
        str | None, typer.Option(help="Standard load profile (H25, G25, ..., synthetic).")
    ] = None,
    watts: Annotated[float | None, typer.Option(help="A constant load, W.")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="Span start (ISO 8601).")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Span end (ISO 8601).")] = None,
    annual_kwh: Annotated[float, typer.Option(help="Profile scaled to this per year.")] = 3500,
    json_out: Json = False,
) -> None:
    """Feed consumption: a samples file, a load profile or a constant load over a span."""
    from sealmeter.meter.feeding import feed_constant, feed_profile, feed_samples

    chosen = [x is not None for x in (samples, profile, watts)]
    if sum(chosen) != 1:
        raise _fail("give exactly one of --samples, --profile or --watts")
    meter = _boot(directory)
    own = _meter_time(meter)

    def progress(at: datetime) -> None:
        typer.echo(f"  fed up to {at.isoformat()}", err=True)

    if samples is not None:
        summary = _guard(lambda: feed_samples(meter, samples, _when(start, own)))
    else:
        begin = _when(from_, own)
        if to is None:
            raise _fail("--to is required with --profile or --watts")
        end = _when(to, own)
        if profile is not None:
            summary = _guard(lambda: feed_profile(meter, profile, begin, end, annual_kwh, progress))
        else:
            assert watts is not None
            summary = _guard(lambda: feed_constant(meter, watts, begin, end, progress=progress))
    _save(meter, directory)
    if json_out:
        typer.echo(json.dumps(summary.to_json()))
    else:
        typer.echo(
            f"fed {summary.intervals} intervals {summary.start.isoformat()} .. "
            f"{summary.end.isoformat()}: {summary.offered_wh:.3f} Wh offered, "
            f"{summary.delivered_wh:.3f} Wh delivered"
        )


def _show_json(meter: Meter, now: datetime) -> dict[str, Any]:
    from sealmeter.meter import display

    shown = display(meter, now)
    return {
        "meter_id": shown.meter_id,
        "time": now.isoformat(),
        "registers": [
            {"obis": o, "energy_wh": wh, "charge": str(c)} for o, wh, c in shown.registers
        ],
        "relay": shown.relay.value,
        "led": shown.led.value,
        "flags": list(shown.flags),
        "outstanding": str(shown.outstanding),
        "credit_time_left_s": None
        if shown.credit_time_left is None
        else shown.credit_time_left.total_seconds(),
        "credit_charge_left": None
        if shown.credit_charge_left is None
        else str(shown.credit_charge_left),
        "currency": shown.currency,
        "schedule": shown.schedule,
        "next_call": shown.next_call.isoformat(),
        "battery_pct": shown.battery_pct,
        "units": meter.counted_units,
        "queued_registrations": len(meter.queued_registrations()),
        "next_seq": meter.next_seq if meter.life.value == "provisioned" else None,
    }


@meter_app.command("show")
def show(directory: Dir, at: At = None, json_out: Json = False) -> None:
    """Show the display: registers, credit, relay, status LED, tamper flags, next call."""
    from sealmeter.meter import display

    meter = _boot(directory)
    now = _when(at, _meter_time(meter))
    if json_out:
        typer.echo(json.dumps(_guard(lambda: _show_json(meter, now))))
        return
    typer.echo("\n".join(_guard(lambda: display(meter, now)).render()))
    queued = _guard(meter.queued_registrations)
    typer.echo(f"  queued registrations: {len(queued)}, units counted: {meter.counted_units}")


@meter_app.command("registrations")
def registrations(directory: Dir, json_out: Json = False) -> None:
    """List the registrations made and not yet acknowledged by the head-end."""
    meter = _boot(directory)
    regs = _guard(meter.queued_registrations)
    rows = [
        {
            "seq": r.seq,
            "kind": r.kind.name.lower(),
            "time": r.time.isoformat(),
            "schedule": f"{r.schedule_id} v{r.schedule_version}",
            "registers": [
                {"obis": x.obis, "usage": x.usage, "charge": str(x.charge)} for x in r.registers
            ],
            "auth_code": r.auth_code.hex(),
        }
        for r in regs
    ]
    if json_out:
        typer.echo(json.dumps(rows))
        return
    for row in rows:
        used = ", ".join(
            f"{x['obis']} {x['usage']} ({x['charge']})" for x in row["registers"] if x["usage"]
        )
        typer.echo(f"#{row['seq']:<5} {row['time']}  {row['kind']:<9} {used or 'no usage'}")
    typer.echo(f"{len(rows)} queued")


@meter_app.command("uplink")
def uplink(
    directory: Dir,
    out: Annotated[Path, typer.Option(help="File to write the sealed uplink bytes to.")],
    at: At = None,
) -> None:
    """Seal an uplink (queued registrations, status, fresh nonce) into a file."""
    meter = _boot(directory)
    own = _meter_time(meter)
    last = meter.control.last_uplink
    if last is not None and own <= last:
        own = last + timedelta(seconds=1)
    now = _when(at, own)
    data = _guard(lambda: meter.make_uplink(now))
    out.write_bytes(data)
    _save(meter, directory)
    typer.echo(f"uplink of {len(data)} bytes at {now.isoformat()} written to {out}")


@meter_app.command("downlink")
def downlink(
    directory: Dir,
    data: Annotated[Path, typer.Argument(help="File with the head-end's downlink bytes.")],
    at: At = None,
    json_out: Json = False,
) -> None:
    """Verify and apply a downlink (enable code, schedules, commands) from a file."""
    from sealmeter.meter import DownlinkRejected

    meter = _boot(directory)
    now = _when(at, max(_meter_time(meter), meter.control.last_uplink or _meter_time(meter)))
    try:
        result = meter.accept_downlink(data.read_bytes(), now)
    except DownlinkRejected as exc:
        _save(meter, directory)
        typer.echo(f"rejected ({exc.reason}): {exc.detail}; the meter is unchanged", err=True)
        raise typer.Exit(code=1) from None
    except OSError as exc:
        raise _fail(f"cannot read {data}: {exc.strerror}") from None
    except Exception as exc:
        from sealmeter.errors import SealmeterError

        if isinstance(exc, SealmeterError):
            raise _fail(exc) from None
        raise
    _save(meter, directory)
    summary = {
        "enable_code": result.enable_code,
        "acked_seq": result.acked_seq,
        "credit_expires": None
        if result.credit_expires is None
        else result.credit_expires.isoformat(),
        "schedules": [f"{i} v{v}" for i, v in result.schedules],
        "commands": [c.name for c in result.commands],
        "relay": result.relay.value,
    }
    typer.echo(json.dumps(summary) if json_out else f"accepted: {summary}")


EVENTS = (
    "housing-opened",
    "inspection-key",
    "seal-loop-broken",
    "seal-loop-ok",
    "bypass",
    "mains-lost",
    "mains-returned",
)


@meter_app.command("event")
def event(
    directory: Dir,
    kind: Annotated[str, typer.Argument(help=f"One of: {', '.join(EVENTS)}.")],
    at: At = None,
    supply_a: Annotated[float, typer.Option(help="bypass: supply-side current, A.")] = 20.0,
    load_a: Annotated[float, typer.Option(help="bypass: load-side current, A.")] = 5.0,
    seconds: Annotated[int, typer.Option(help="bypass: how long the currents disagree.")] = 120,
) -> None:
    """Make a sensor event happen (tamper switches, seal loop, bypass, mains)."""
    from sealmeter.meter import SealLoop

    if kind not in EVENTS:
        raise _fail(f"unknown event {kind!r}; choose one of {', '.join(EVENTS)}")
    meter = _boot(directory)
    now = _when(at, _meter_time(meter))
    loop = SealLoop()
    found: Any = None
    if kind == "housing-opened":
        found = _guard(lambda: meter.housing_opened(now))
    elif kind == "inspection-key":
        _guard(lambda: meter.inspection_key(now))
    elif kind in ("seal-loop-broken", "seal-loop-ok"):
        loop.intact = kind == "seal-loop-ok"
        found = _guard(lambda: meter.check_seal_loop(now, loop))
    elif kind == "bypass":
        if not (math.isfinite(supply_a) and math.isfinite(load_a)) or seconds < 0:
            raise _fail("--supply-a and --load-a must be numbers, --seconds 0 or more")
        for s in range(seconds + 1):
            hit = meter.observe_currents(now + timedelta(seconds=s), supply_a, load_a)
            found = found or hit
    elif kind == "mains-lost":
        _guard(lambda: meter.mains_lost(now))
    else:
        found = _guard(lambda: meter.mains_returned(now))
    _save(meter, directory)
    typer.echo(f"{kind} at {now.isoformat()}: detection {found}" if found else f"{kind} noted")


@lab_app.command("init")
def lab_init(
    directory: Annotated[Path, typer.Argument(help="The lab box's directory.")],
) -> None:
    """Make a lab head-end: its key pair (ec-modern) and `box.pub` to provision meters."""
    from sealmeter.protocol import generate_keys

    directory.mkdir(parents=True, exist_ok=True)
    keys = generate_keys()
    secret = secrets.token_bytes(32)
    (directory / "box.secret").write_bytes(secret)
    os.chmod(directory / "box.secret", 0o600)
    (directory / "box.keys").write_bytes(keys.to_bytes(secret))
    (directory / "box.pub").write_bytes(keys.public().to_bytes())
    typer.echo(f"lab box in {directory}; provision meters with --headend-keys {directory}/box.pub")


@lab_app.command("answer")
def lab_answer(
    directory: Annotated[Path, typer.Argument(help="The lab box's directory.")],
    export: Annotated[Path, typer.Option(help="The meter's provisioning export (JSON).")],
    data: Annotated[Path, typer.Option("--uplink", help="The meter's uplink bytes.")],
    out: Annotated[Path, typer.Option(help="Where to write the downlink bytes.")],
    credit_days: Annotated[float, typer.Option(help="Credit frame granted, days.")] = 7.0,
    enable: Annotated[bool, typer.Option(help="Send an enable code.")] = True,
) -> None:
    """Open an uplink, check the MAC chain, and answer with a sealed enable code."""
    from sealmeter.meter import ProvisioningExport
    from sealmeter.protocol import (
        CreditFrame,
        Downlink,
        EnableCode,
        HeadEndChain,
        PrivateKeys,
        ProtocolPeerError,
        open_uplink,
        seal_downlink,
    )

    keys = PrivateKeys.from_bytes(
        (directory / "box.keys").read_bytes(), (directory / "box.secret").read_bytes()
    )
    meter = ProvisioningExport.from_json(export.read_text())
    chain_file = directory / f"{meter.meter_id}.chain"
    chain = (
        HeadEndChain.from_bytes(chain_file.read_bytes())
        if chain_file.exists()
        else HeadEndChain.start(meter.chain_key)
    )
    try:
        opened = open_uplink(
            data.read_bytes(),
            headend=keys,
            meter=meter.public(),
            meter_id=meter.meter_id,
            chain=chain,
        )
    except ProtocolPeerError as exc:
        raise _fail(f"uplink refused ({type(exc).__name__}): {exc}") from None
    up = opened.uplink
    code = None
    if enable:
        frame = CreditFrame(timedelta(days=credit_days), Decimal(0))
        code = EnableCode(
            meter.meter_id, opened.chain.last_seq, up.nonce, up.time + timedelta(hours=1), frame
        )
    reply = seal_downlink(
        Downlink(meter.meter_id, up.time, up.nonce, code), headend=keys, meter=meter.public()
    )
    chain_file.write_bytes(opened.chain.to_bytes())
    out.write_bytes(reply)
    usage = sum(r.usage for reg in opened.accepted for r in reg.registers)
    typer.echo(
        f"accepted {len(opened.accepted)} registrations ({usage} units) from "
        f"{meter.meter_id}; downlink of {len(reply)} bytes written to {out}"
    )


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this part's commands to `app` and its benchmarks to `bench`."""
    app.add_typer(meter_app, name="meter")

    @bench.command("meter")
    def bench_meter(json_out: Json = False) -> None:
        """Measure the module: feed throughput and uplink/downlink costs beside the raw work."""
        from sealmeter.benchmarks.meter import run

        figures = run()
        typer.echo(json.dumps(figures) if json_out else json.dumps(figures, indent=2))
