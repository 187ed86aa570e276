"""Commands of the web doors: `sealmeter serve` and `sealmeter token ...` (see docs/web.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sealmeter.web import TokenStore

__all__ = ["register"]

_DB_HELP = "Database URL: sqlite:///FILE (default: sealmeter.db here) or postgresql+psycopg://..."
_DEFAULT_KEYS = Path("sealmeter-box-keys.json")
_SCHEMA_HELP = "PostgreSQL schema to use (isolates one head-end's tables)."


def _serve(
    db: str = typer.Option("sqlite:///sealmeter.db", "--db", help=_DB_HELP),
    keys: Annotated[
        Path,
        typer.Option(
            "--keys",
            envvar="SEALMETER_KEYS",
            help="The box's encrypted key file; created with fresh keys on first start.",
        ),
    ] = _DEFAULT_KEYS,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8470, "--port", min=1, max=65535, help="TCP port to listen on."),
    schema: str | None = typer.Option(None, "--schema", help=_SCHEMA_HELP),
    bootstrap: bool = typer.Option(
        True,
        "--bootstrap/--no-bootstrap",
        help="Create and print a first admin token when none exists.",
    ),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Run the head-end: meters' uplink door, REST API, OpenAPI docs and dashboard."""
    from sealmeter.clock import SystemClock
    from sealmeter.errors import SealmeterError
    from sealmeter.headend import passphrase_from_env
    from sealmeter.web import bootstrap_admin, open_service, run

    interactive = sys.stdin.isatty()
    try:
        service = open_service(
            db, keys, lambda: passphrase_from_env(prompt=interactive), schema=schema
        )
    except SealmeterError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        if service.keys_created:
            typer.echo(f"created new box keys in {keys} (keep a backup of it)", err=True)
        if bootstrap:
            first = bootstrap_admin(service.tokens, SystemClock())
            if first is not None:
                typer.echo(
                    "no operator token existed; created a first admin token (shown once):\n"
                    f"  {first.token}\n"
                    "use it as 'Authorization: Bearer ...' or paste it at the dashboard login",
                    err=True,
                )
        shown = f"[{host}]" if ":" in host else host
        typer.echo(f"dashboard: http://{shown}:{port}/ui/  API docs: /docs", err=True)
        run(service.app, host, port, log_level=log_level)
    finally:
        service.close()


def _token_store(db: str, schema: str | None) -> TokenStore:
    from sealmeter.store import open_engine
    from sealmeter.web import TokenStore

    return TokenStore(open_engine(db, schema=schema))


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


def _token_create(
    name: str = typer.Option(..., "--name", help="Who or what uses the token."),
    role: str = typer.Option("read-only", "--role", help="admin, operator or read-only."),
    db: str = typer.Option("sqlite:///sealmeter.db", "--db", help=_DB_HELP),
    schema: str | None = typer.Option(None, "--schema", help=_SCHEMA_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Create an operator API token; its secret is printed once, store it safely."""
    from sealmeter.clock import SystemClock
    from sealmeter.errors import SealmeterError
    from sealmeter.web import Role

    try:
        issued = _token_store(db, schema).create(name, Role.parse(role), SystemClock().now())
    except SealmeterError as exc:
        raise _fail(exc) from None
    info = issued.info
    if as_json:
        doc = {"token_id": info.token_id, "name": info.name, "role": info.role.value}
        typer.echo(json.dumps({**doc, "token": issued.token}))
    else:
        typer.echo(f"created {info.role.value} token {info.token_id} for {info.name!r}:")
        typer.echo(issued.token)


def _token_list(
    db: str = typer.Option("sqlite:///sealmeter.db", "--db", help=_DB_HELP),
    schema: str | None = typer.Option(None, "--schema", help=_SCHEMA_HELP),
    include_revoked: bool = typer.Option(False, "--all", help="Also list revoked tokens."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list."),
) -> None:
    """List operator API tokens (ids, names, roles; never secrets)."""
    from sealmeter.errors import SealmeterError

    try:
        found = _token_store(db, schema).list(include_revoked=include_revoked)
    except SealmeterError as exc:
        raise _fail(exc) from None
    rows = [
        {
            "token_id": t.token_id,
            "name": t.name,
            "role": t.role.value,
            "created_at": t.created_at.isoformat(),
            "revoked_at": None if t.revoked_at is None else t.revoked_at.isoformat(),
        }
        for t in found
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    if not rows:
        typer.echo("no tokens; create one with: sealmeter token create --name NAME --role admin")
    for row in rows:
        revoked = f"  revoked {row['revoked_at']}" if row["revoked_at"] else ""
        typer.echo(f"{row['token_id']}  {row['role']:<9}  {row['name']}{revoked}")


def _token_revoke(
    token_id: str = typer.Argument(..., help="Id of the token (see 'sealmeter token list')."),
    db: str = typer.Option("sqlite:///sealmeter.db", "--db", help=_DB_HELP),
    schema: str | None = typer.Option(None, "--schema", help=_SCHEMA_HELP),
) -> None:
    """Revoke an operator API token at once."""
    from sealmeter.clock import SystemClock
    from sealmeter.errors import SealmeterError

    try:
        info = _token_store(db, schema).revoke(token_id, SystemClock().now())
    except SealmeterError as exc:
        raise _fail(exc) from None
    typer.echo(f"revoked token {info.token_id} ({info.name}, {info.role.value})")


def _bench_web(
    meters: Annotated[int, typer.Option("--meters", min=1, help="Meters sending.")] = 40,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Uplinks per meter.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Uplinks/s through POST /v1/uplink and a REST page, beside the direct head-end calls."""
    from sealmeter.benchmarks.web import run_web_bench

    result = run_web_bench(meters=meters, rounds=rounds)
    if as_json:
        typer.echo(json.dumps(result))
        return
    for key, value in result.items():
        typer.echo(f"{key:32} {value}")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add `serve` and the `token` group to `app`, and `bench web` to `bench`."""
    bench.command("web")(_bench_web)
    app.command("serve")(_serve)
    token = typer.Typer(help="Operator API tokens: create, list, revoke.", no_args_is_help=True)
    token.command("create")(_token_create)
    token.command("list")(_token_list)
    token.command("revoke")(_token_revoke)
    app.add_typer(token, name="token")
