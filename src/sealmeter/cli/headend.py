"""Commands of the `headend` part: `sealmeter headend ...`, `sealmeter verify-bill`, `bench ingest`.

Every command opens the head-end's database (`--db`, default the SQLite file `sealmeter.db`
in the working directory, as `sealmeter serve` uses) and, where it needs the box's private
keys, the key file (`--keys`, passphrase from `SEALMETER_KEY_PASSPHRASE` or a prompt).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from sealmeter.headend import HeadEnd
    from sealmeter.store import Page

__all__ = ["register"]

DEFAULT_DB = "sqlite:///sealmeter.db"
DEFAULT_KEYS = Path("sealmeter-box-keys.json")
T = TypeVar("T")

Db = Annotated[
    str,
    typer.Option(
        "--db",
        envvar="SEALMETER_DB",
        help="Database URL: sqlite:///FILE (default sealmeter.db here) or postgresql+psycopg://...",
    ),
]
Schema = Annotated[
    str | None, typer.Option("--schema", help="PostgreSQL schema holding this head-end's tables.")
]
Keys = Annotated[
    Path,
    typer.Option(
        "--keys",
        envvar="SEALMETER_KEYS",
        help="The box's encrypted key file (passphrase from SEALMETER_KEY_PASSPHRASE or a prompt).",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=2)


def _guard(fn: Callable[[], T]) -> T:
    from sealmeter.errors import SealmeterError

    try:
        return fn()
    except SealmeterError as exc:
        raise _fail(exc) from None


def _load_keys(path: Path) -> Any:
    from sealmeter.headend import BoxKeys, passphrase_from_env
    from sealmeter.headend.pkcs11 import is_token_file

    if is_token_file(path):  # opened with the token (SEALMETER_PKCS11_MODULE and _PIN)
        return BoxKeys.load(path, b"")
    return BoxKeys.load(path, passphrase_from_env(prompt=sys.stdin.isatty()))


@contextmanager
def _open(db: str, schema: str | None, keys: Path | None = None) -> Iterator[HeadEnd]:
    from sealmeter.errors import SealmeterError
    from sealmeter.headend import BoxKeys, HeadEnd

    try:
        box = _load_keys(keys) if keys is not None else BoxKeys({})
        he = HeadEnd.open(db, box, schema=schema)
    except SealmeterError as exc:
        raise _fail(exc) from None
    try:
        yield he
    except SealmeterError as exc:
        raise _fail(exc) from None
    finally:
        he.close()


def _plain(value: Any) -> Any:
    """Dataclasses, enums, datetimes, Decimals and bytes as JSON-ready values."""
    import dataclasses
    import enum
    from decimal import Decimal

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(_plain(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _emit(items: list[Any], as_json: bool, columns: list[str]) -> None:
    rows = [_plain(x) for x in items]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("(none)")
        return
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    typer.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in rows:
        cells = [str(r.get(c, "") if r.get(c) is not None else "-") for c in columns]
        typer.echo("  ".join(v.ljust(w) for v, w in zip(cells, widths, strict=True)))


def _all(fetch: Callable[[str | None, int], Page[T]]) -> list[T]:
    """Every item of a paged listing, `fetch(cursor, limit)` page after page: the terminal
    shows them all, never a silently cut first page."""
    from sealmeter.store import MAX_PAGE, walk_pages

    return list(walk_pages(lambda cursor: fetch(cursor, MAX_PAGE)))


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 date or time") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this part's commands to `app` and its benchmarks to `bench`."""
    he_app = typer.Typer(
        help="The head-end from the terminal: keys, meters, schedules, bills, alerts.",
        no_args_is_help=True,
    )
    app.add_typer(he_app, name="headend")
    keys_app = typer.Typer(
        help="The box's own key pairs (one per crypto suite).", no_args_is_help=True
    )
    he_app.add_typer(keys_app, name="keys")
    sched_app = typer.Typer(
        help="Rate schedules: publish versions, track delivery.", no_args_is_help=True
    )
    he_app.add_typer(sched_app, name="schedule")

    @he_app.command("init")
    def init_command(db: Db = DEFAULT_DB, schema: Schema = None) -> None:
        """Create or upgrade the head-end database to the newest schema."""
        from sealmeter.store import Store, current_revision

        store = _guard(lambda: Store.open(db, schema=schema))
        typer.echo(f"database at revision {current_revision(store.engine)} ({store.dialect})")
        store.close()

    @keys_app.command("init")
    def keys_init(
        keys: Keys = DEFAULT_KEYS,
        suite: Annotated[
            list[str] | None, typer.Option("--suite", help="Suite to serve (repeatable).")
        ] = None,
        pkcs11_module: Annotated[
            str | None,
            typer.Option(
                "--pkcs11-module", help="Seal the key file with this PKCS#11 module's token."
            ),
        ] = None,
        token_label: Annotated[
            str, typer.Option("--token-label", help="Label of the PKCS#11 token.")
        ] = "sealmeter",  # noqa: S107 - a token's name, not a secret
        in_token: Annotated[
            bool,
            typer.Option(
                "--in-token",
                help="Generate the private keys in the token and do their operations there "
                "(nist-p256: ECDH and ECDSA; ec-modern: Ed25519).",
            ),
        ] = False,
    ) -> None:
        """Generate the box's key pairs into an encrypted key file (never overwrites)."""
        from sealmeter.headend import BoxKeys, passphrase_from_env
        from sealmeter.protocol import Suite

        suites = [Suite.from_name(s) for s in (suite or ["ec-modern"])]
        box = BoxKeys.generate(suites)
        if pkcs11_module:
            import os

            from sealmeter.headend.pkcs11 import (
                PIN_ENV,
                TokenConfig,
                generate_in_token,
                save_with_token,
            )

            cfg = TokenConfig(pkcs11_module, token_label, os.environ.get(PIN_ENV, ""))
            if in_token:
                box = _guard(lambda: generate_in_token(suites, keys, cfg))
            else:
                _guard(lambda: save_with_token(box, keys, cfg))
        else:
            _guard(lambda: box.save(keys, passphrase_from_env(prompt=sys.stdin.isatty())))
        typer.echo(f"wrote {keys}: {box!r}")

    @keys_app.command("public")
    def keys_public(
        keys: Keys = DEFAULT_KEYS,
        suite: Annotated[str, typer.Option("--suite", help="Which suite's keys.")] = "ec-modern",
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="Write the bytes here.")
        ] = None,
    ) -> None:
        """Export the box's public keys for a suite (install them in meters at manufacture)."""
        from sealmeter.protocol import Suite

        box = _guard(lambda: _load_keys(keys))
        data = _guard(lambda: box.public(Suite.from_name(suite)).to_bytes())
        if output is None:
            typer.echo(data.hex())
        else:
            output.write_bytes(data)
            typer.echo(f"wrote {len(data)} bytes to {output}")

    @he_app.command("provision")
    def provision(
        meter_id: Annotated[str, typer.Argument(help="The meter's id.")],
        customer: Annotated[str, typer.Option("--customer", help="Customer reference.")],
        public_keys: Annotated[
            Path, typer.Option("--public-keys", help="File with the meter's exported public keys.")
        ],
        chain_key: Annotated[
            Path,
            typer.Option("--chain-key", help="File with the meter's 32-byte initial chain key."),
        ],
        suite: Annotated[str, typer.Option("--suite", help="Pinned crypto suite.")] = "ec-modern",
        feeder: Annotated[
            str, typer.Option("--feeder", help="Feeder (for outage detection).")
        ] = "",
        schedule_id: Annotated[
            str | None, typer.Option("--schedule", help="Published schedule id.")
        ] = None,
        credit_days: Annotated[
            float, typer.Option("--credit-frame-days", help="Credit frame in days.")
        ] = 7.0,
        report_hours: Annotated[
            float, typer.Option("--report-interval-hours", help="Expected reporting interval.")
        ] = 24.0,
        keys: Keys = DEFAULT_KEYS,
        db: Db = DEFAULT_DB,
        schema: Schema = None,
    ) -> None:
        """Register a meter: its public keys, pinned suite, customer, schedule and credit frame."""
        from sealmeter.headend import Provisioning

        try:
            pub, key = public_keys.read_bytes(), chain_key.read_bytes()
        except OSError as exc:
            raise _fail(exc) from None
        req = Provisioning(
            meter_id=meter_id,
            customer_ref=customer,
            suite=suite,
            public_keys=pub,
            chain_key=key,
            feeder=feeder,
            schedule_id=schedule_id,
            credit_frame=timedelta(days=credit_days),
            report_interval=timedelta(hours=report_hours),
        )
        with _open(db, schema, keys) as he:
            rec = he.provision(req)
        typer.echo(f"provisioned {rec.meter_id} for {rec.customer_ref} ({rec.suite})")

    @he_app.command("meters")
    def meters(
        state: Annotated[
            str | None, typer.Option("--state", help="Only meters in this state.")
        ] = None,
        as_json: AsJson = False,
        db: Db = DEFAULT_DB,
        schema: Schema = None,
    ) -> None:
        """List the provisioned meters with their state and fleet view."""
        from sealmeter.headend import MeterState, fleet_state

        wanted = None if state is None else _guard(lambda: _meter_state(state))
        with _open(db, schema) as he:
            items: list[Any] = []
            now = he.clock.now()
            for m in _all(lambda c, n: he.list_meters(state=wanted, cursor=c, limit=n)):
                row = _plain(m)
                row["fleet"] = fleet_state(m, he.policy, now).value
                items.append(row)
        del MeterState
        _emit(
            items,
            as_json,
            ["meter_id", "customer_ref", "suite", "state", "fleet", "last_seq", "last_seen"],
        )

    def _lifecycle(
        action: str, meter_id: str, db: str, schema: str | None, reason: str = ""
    ) -> None:
        with _open(db, schema) as he:
            if action == "block":
                rec = he.block(meter_id, reason)
            elif action == "unblock":
                rec = he.unblock(meter_id)
            else:
                rec = he.decommission(meter_id)
        typer.echo(f"{rec.meter_id} is now {rec.state.value}")

    @he_app.command("block")
    def block(
        meter_id: Annotated[str, typer.Argument(help="The meter to block.")],
        reason: Annotated[str, typer.Option("--reason", help="Why (kept with the meter).")] = "",
        db: Db = DEFAULT_DB,
        schema: Schema = None,
    ) -> None:
        """Block a meter: no more enable codes, a block command on its next call."""
        _lifecycle("block", meter_id, db, schema, reason)

    @he_app.command("unblock")
    def unblock(
        meter_id: Annotated[str, typer.Argument(help="The meter to unblock.")],
        db: Db = DEFAULT_DB,
        schema: Schema = None,
    ) -> None:
        """Lift a block: enable codes resume, an unblock command on its next call."""
        _lifecycle("unblock", meter_id, db, schema)

    @he_app.command("decommission")
    def decommission(
        meter_id: Annotated[str, typer.Argument(help="The meter to take out of service.")],
        db: Db = DEFAULT_DB,
        schema: Schema = None,
    ) -> None:
        """Take a meter out of service (its data stays; its uplinks are refused)."""
        _lifecycle("decommission", meter_id, db, schema)

    @he_app.command("roll-keys")
    def roll_keys(
        meter_id: Annotated[str, typer.Argument(help="The meter whose keys change.")],
        public_keys: Annotated[
            Path, typer.Option("--public-keys", help="File with the meter's new public keys.")
        ],
        db: Db = DEFAULT_DB,
        schema: Schema = None,
    ) -> None:
        """Key rollover: install a meter's new public keys (same suite)."""
        try:
            data = public_keys.read_bytes()
        except OSError as exc:
            raise _fail(exc) from None
        with _open(db, schema) as he:
            rec = he.roll_keys(meter_id, data)
        typer.echo(f"{rec.meter_id} now uses key version {rec.key_version}")

    roll_app = typer.Typer(
        help="Key rollover over the air: the box's keys, and meters renewing their own.",
        no_args_is_help=True,
    )
    he_app.add_typer(roll_app, name="rollover")

    @roll_app.command("renew")
    def rollover_renew(
        meter_id: Annotated[str, typer.Argument(help="The meter that renews its key pair.")],
        db: Db = DEFAULT_DB,
        schema: Schema = None,
        keys: Keys = DEFAULT_KEYS,
    ) -> None:
        """Order a meter to renew its own keys; the order rides on its next answers."""
        with _open(db, schema, keys) as he:
            state = he.renew_meter_keys(meter_id)
        typer.echo(f"{meter_id}: renewal to key version {state.renew_epoch} ordered")

    @roll_app.command("box-keys")
    def rollover_box_keys(
        out: Annotated[Path, typer.Option("--out", help="Where to write the new key file.")],
        suite: Annotated[str, typer.Option("--suite", help="Which suite's box keys.")] = (
            "ec-modern"
        ),
        db: Db = DEFAULT_DB,
        schema: Schema = None,
        keys: Keys = DEFAULT_KEYS,
    ) -> None:
        """New box keys for a suite, announced to every meter; serve with the --out file next."""
        from sealmeter.headend import passphrase_from_env
        from sealmeter.protocol import Suite

        chosen = _guard(lambda: Suite.from_name(suite))
        if out.exists():
            raise _fail(FileExistsError(f"{out} already exists; keys are never overwritten"))
        with _open(db, schema, keys) as he:
            new = he.roll_box_keys(chosen)
            new.save(out, passphrase_from_env(prompt=sys.stdin.isatty()))
        typer.echo(f"wrote {out}: {new!r}; restart every head-end process with --keys {out}")

    @roll_app.command("status")
    def rollover_status(
        meter_id: Annotated[str, typer.Argument(help="The meter to look at.")],
        db: Db = DEFAULT_DB,
        schema: Schema = None,
    ) -> None:
        """Show the key rollover under way for a meter (box keys pending, renewal ordered)."""
        with _open(db, schema) as he:
            state = he.rollover(meter_id)
            version = he.get_meter(meter_id).key_version
        box = state.box_key_id.hex() if state.box_key_id else "-"
        renew = str(state.renew_epoch) if state.renew_epoch else "-"
        typer.echo(f"{meter_id}: key version {version}; still on box key {box}; renewal {renew}")

    @sched_app.command("publish")
    def schedule_publish(
        file: Annotated[Path, typer.Argument(help="Schedule file (TOML or JSON, tariff format).")],
        meter: Annotated[
            list[str] | None, typer.Option("--meter", help="Also move this meter onto it.")
        ] = None,
        db: Db = DEFAULT_DB,
        schema: Schema = None,
    ) -> None:
        """Publish a schedule version and queue it for every meter on that schedule."""
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise _fail(exc) from None
        except UnicodeDecodeError as exc:
            raise _fail(
                ValueError(f"{file} is not UTF-8 text ({exc.reason} at byte {exc.start})")
            ) from None
        with _open(db, schema) as he:
            rec = he.publish_schedule(text, meter_ids=meter or None)
            pending = len(he.schedule_deliveries(schedule_id=rec.schedule_id, pending_only=True))
        typer.echo(f"published {rec.schedule_id} v{rec.version}; {pending} deliveries pending")

    @sched_app.command("list")
    def schedule_list(as_json: AsJson = False, db: Db = DEFAULT_DB, schema: Schema = None) -> None:
        """List the published schedule versions."""
        with _open(db, schema) as he:
            items = [
                {k: v for k, v in _plain(s).items() if k != "document"} for s in he.list_schedules()
            ]
        _emit(items, as_json, ["schedule_id", "version", "valid_from", "valid_to", "published_at"])

    @sched_app.command("deliveries")
    def schedule_deliveries(
        pending: Annotated[bool, typer.Option("--pending", help="Only unconfirmed ones.")] = False,
        as_json: AsJson = False,
        db: Db = DEFAULT_DB,
        schema: Schema = None,
    ) -> None:
        """Show which meters were sent and have confirmed which schedule version."""
        with _open(db, schema) as he:
            items = list(he.schedule_deliveries(pending_only=pending))
        _emit(items, as_json, ["meter_id", "schedule_id", "version", "sent_at", "confirmed_at"])

    @he_app.command("bills")
    def bills(
        start: Annotated[str, typer.Option("--from", help="Period start (ISO 8601, inclusive).")],
        end: Annotated[str, typer.Option("--to", help="Period end (ISO 8601, exclusive).")],
        customer: Annotated[
            str | None, typer.Option("--customer", help="Only this customer.")
        ] = None,
        fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
        output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here.")] = None,
        db: Db = DEFAULT_DB,
        schema: Schema = None,
    ) -> None:
        """Export bills per customer for a period, as CSV (one line per register) or JSON."""
        from sealmeter.headend._export import bills_to_csv, bills_to_json

        if fmt not in ("csv", "json"):
            raise _fail(ValueError(f"unknown format {fmt!r}; use csv or json"))
        a, b = _instant(start), _instant(end)
        with _open(db, schema) as he:
            found = [he.bill(customer, a, b)] if customer else he.bills(a, b)
        text = bills_to_csv(found) if fmt == "csv" else bills_to_json(found)
        if output is None:
            typer.echo(text, nl=False)
        else:
            output.write_text(text, encoding="utf-8")
            typer.echo(f"wrote {len(found)} bills to {output}")

    @he_app.command("alerts")
    def alerts(
        open_only: Annotated[bool, typer.Option("--open", help="Only unacknowledged.")] = False,
        meter: Annotated[str | None, typer.Option("--meter", help="Only this meter.")] = None,
        as_json: AsJson = False,
        db: Db = DEFAULT_DB,
        schema: Schema = None,
    ) -> None:
        """List alerts (tamper, silence, outages, mismatches, rejected uplinks)."""
        with _open(db, schema) as he:
            items = _all(
                lambda c, n: he.list_alerts(meter_id=meter, open_only=open_only, cursor=c, limit=n)
            )
        _emit(items, as_json, ["alert_id", "kind", "severity", "meter_id", "occurred_at", "detail"])

    @he_app.command("ack")
    def ack(
        alert_id: Annotated[int, typer.Argument(help="The alert to acknowledge.")],
        db: Db = DEFAULT_DB,
        schema: Schema = None,
    ) -> None:
        """Acknowledge an alert."""
        with _open(db, schema) as he:
            rec = he.acknowledge_alert(alert_id)
        typer.echo(f"alert {rec.alert_id} acknowledged")

    @he_app.command("resolve")
    def resolve(
        meter_id: Annotated[str, typer.Argument(help="The meter whose mismatches are settled.")],
        db: Db = DEFAULT_DB,
        schema: Schema = None,
    ) -> None:
        """Settle a meter's charge mismatches so its enable codes are issued again."""
        with _open(db, schema) as he:
            closed = he.resolve_mismatches(meter_id)
        typer.echo(
            f"meter {meter_id}: {closed} charge-mismatch alert(s) resolved; enable codes are "
            "issued again from its next uplink"
        )

    @he_app.command("watch")
    def watch(as_json: AsJson = False, db: Db = DEFAULT_DB, schema: Schema = None) -> None:
        """Run the fleet checks now (silence, credit frame, outages) and show new alerts."""
        with _open(db, schema) as he:
            items = he.watch()
        _emit(items, as_json, ["alert_id", "kind", "meter_id", "feeder", "detail"])

    @he_app.command("rejections")
    def rejections(
        meter: Annotated[str | None, typer.Option("--meter", help="Only this meter.")] = None,
        as_json: AsJson = False,
        db: Db = DEFAULT_DB,
        schema: Schema = None,
    ) -> None:
        """List refused uplinks with their precise reasons."""
        with _open(db, schema) as he:
            items = _all(lambda c, n: he.list_rejections(meter_id=meter, cursor=c, limit=n))
        _emit(items, as_json, ["rejection_id", "received_at", "meter_id", "reason", "detail"])

    @he_app.command("enable-codes")
    def enable_codes(
        meter: Annotated[str | None, typer.Option("--meter", help="Only this meter.")] = None,
        as_json: AsJson = False,
        db: Db = DEFAULT_DB,
        schema: Schema = None,
    ) -> None:
        """List every issued enable code."""
        with _open(db, schema) as he:
            items = _all(lambda c, n: he.list_enable_codes(meter_id=meter, cursor=c, limit=n))
        _emit(items, as_json, ["code_id", "meter_id", "acked_seq", "issued_at", "expires_at"])

    @he_app.command("export")
    def export(
        meter_id: Annotated[str, typer.Argument(help="The meter whose registrations to export.")],
        output: Annotated[Path, typer.Option("--output", "-o", help="Export file to write.")],
        start: Annotated[str | None, typer.Option("--from", help="Received on or after.")] = None,
        end: Annotated[str | None, typer.Option("--to", help="Received before.")] = None,
        keys: Keys = DEFAULT_KEYS,
        db: Db = DEFAULT_DB,
        schema: Schema = None,
    ) -> None:
        """Export a meter's signed registrations for the customer's offline bill check."""
        a = None if start is None else _instant(start)
        b = None if end is None else _instant(end)
        with _open(db, schema, keys) as he:
            data = he.export_registrations(meter_id, since=a, until=b)
        output.write_bytes(data)
        typer.echo(f"wrote {output}; check it with: sealmeter verify-bill {output}")

    @app.command("verify-bill")
    def verify_bill(
        export_file: Annotated[
            Path, typer.Argument(help="Export from `sealmeter headend export`.")
        ],
        public_key: Annotated[
            Path | None,
            typer.Option("--public-key", help="The meter's public keys, obtained independently."),
        ] = None,
        schedule: Annotated[
            list[Path] | None,
            typer.Option("--schedule", help="Published tariff file(s) to bill with (repeatable)."),
        ] = None,
        as_json: AsJson = False,
    ) -> None:
        """Check a bill offline: verify the meter's signed data and recompute the charges."""
        from sealmeter.headend.verify_bill import verify_export
        from sealmeter.tariff import load_schedule

        try:
            data = export_file.read_bytes()
            pub = None if public_key is None else public_key.read_bytes()
        except OSError as exc:
            raise _fail(exc) from None
        from sealmeter.errors import SealmeterError

        try:
            tariffs = [load_schedule(p) for p in (schedule or [])]
            report = verify_export(data, public_keys=pub, schedules=tariffs or None)
        except SealmeterError as exc:
            raise _fail(exc) from None
        if as_json:
            typer.echo(json.dumps(_plain(report), indent=2))
        else:
            typer.echo(report.summary())
        if not report.ok:
            raise typer.Exit(code=1)

    @bench.command("ingest")
    def bench_ingest(
        as_json: AsJson = False,
        store: Annotated[str, typer.Option("--store", help="sqlite or postgresql.")] = "sqlite",
        workers: Annotated[int, typer.Option("--workers", min=1, help="Ingest processes.")] = 1,
        meters: Annotated[
            int | None,
            typer.Option("--meters", min=1, help="Provisioned meters (default 200 per worker)."),
        ] = None,
        per_uplink: Annotated[
            int, typer.Option("--registrations-per-uplink", min=1, help="Registrations per call.")
        ] = 24,
        batch: Annotated[int, typer.Option("--batch", min=1, help="Uplinks per transaction.")] = 64,
        postgres_url: Annotated[
            str, typer.Option("--postgres-url", help="PostgreSQL URL for --store postgresql.")
        ] = "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    ) -> None:
        """Ingest real uplinks from many meters; registrations/s beside the bare crypto's."""
        from sealmeter.benchmarks.ingest import IngestBenchConfig, run_ingest_bench

        if store not in ("sqlite", "postgresql"):
            raise _fail(ValueError(f"unknown store {store!r}; use sqlite or postgresql"))
        cfg = IngestBenchConfig(
            store=store,
            workers=workers,
            meters=meters if meters is not None else 200 * workers,
            registrations_per_uplink=per_uplink,
            batch=batch,
            postgres_url=postgres_url,
        )
        result = _guard(lambda: run_ingest_bench(cfg))
        if as_json:
            typer.echo(json.dumps(result))
        else:
            for k, v in result.items():
                typer.echo(f"{k}: {v}")


def _meter_state(name: str) -> Any:
    from sealmeter.headend import HeadEndError, MeterState

    try:
        return MeterState(name)
    except ValueError:
        names = ", ".join(s.value for s in MeterState)
        raise HeadEndError(f"unknown state {name!r}; use one of {names}") from None
