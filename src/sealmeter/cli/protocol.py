"""Commands of the `protocol` part: key files, envelope inspection, and the benchmark.

`sealmeter protocol keygen` writes a passphrase-protected private key file and a public key
file for one suite; `sealmeter protocol inspect` reads an envelope's clear header;
`sealmeter bench protocol` measures sealing and opening against the bare primitives.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["register"]


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _passphrase(env: str | None) -> bytes:
    if env is not None:
        value = os.environ.get(env)
        if not value:
            _fail(f"environment variable {env} is empty or unset; export the passphrase there")
        assert value is not None
        return value.encode()
    value = typer.prompt("Passphrase for the private key file", hide_input=True,
                         confirmation_prompt=True)  # fmt: skip
    if not value:
        _fail("an empty passphrase cannot protect a key file")
    return str(value).encode()


def _suites(names: list[str] | None) -> tuple[Any, ...]:
    from sealmeter.protocol import ProtocolUsageError, Suite

    if not names:
        return tuple(Suite)
    try:
        return tuple(Suite.from_name(n) for n in names)
    except ProtocolUsageError as exc:
        _fail(str(exc))
    raise AssertionError("unreachable")  # pragma: no cover


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this part's commands to `app` and its benchmarks to `bench`."""
    protocol_app = typer.Typer(
        help="Protocol keys and sealed envelopes (suites, key files, header inspection).",
        no_args_is_help=True,
    )
    app.add_typer(protocol_app, name="protocol")

    @protocol_app.command("keygen")
    def keygen_command(
        out: Annotated[Path, typer.Argument(help="Private key file to write (encrypted).")],
        suite: Annotated[
            str, typer.Option(help="Suite: ec-modern, nist-p256, rsa or symmetric.")
        ] = "ec-modern",
        public_out: Annotated[
            Path | None,
            typer.Option(help="Also write the public keys here (not for the symmetric suite)."),
        ] = None,
        passphrase_env: Annotated[
            str | None,
            typer.Option(help="Read the passphrase from this environment variable, not a prompt."),
        ] = None,
        force: Annotated[bool, typer.Option(help="Overwrite existing files.")] = False,
    ) -> None:
        """Generate a key set for one suite; store the private half encrypted."""
        from sealmeter.protocol import ProtocolUsageError, Suite, generate_keys

        (chosen,) = _suites([suite])
        for path in (out, public_out):
            if path is not None and path.exists() and not force:
                _fail(f"{path} exists; pass --force to overwrite it")
        if public_out is not None and chosen is Suite.SYMMETRIC:
            _fail("the symmetric suite has no public keys; share the private file securely")
        secret = _passphrase(passphrase_env)
        if chosen is Suite.RSA:
            typer.echo("generating two 3072-bit RSA keys (a few seconds)...", err=True)
        keys = generate_keys(chosen)
        try:
            out.write_bytes(keys.to_bytes(secret))
            if public_out is not None:
                public_out.write_bytes(keys.public().to_bytes())
        except (OSError, ProtocolUsageError) as exc:
            _fail(f"could not write the key files: {exc}")
        typer.echo(f"{chosen.value} keys, key id {keys.key_id.hex()}, written to {out}")

    @protocol_app.command("inspect")
    def inspect_command(
        envelope: Annotated[
            Path, typer.Argument(help="File holding one sealed envelope ('-' for stdin).")
        ],
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    ) -> None:
        """Show an envelope's clear header (suite, direction, meter, key ids); no keys needed.

        Nothing shown is trusted until the envelope is opened with the pinned keys.
        """
        from sealmeter.protocol import MalformedMessage, peek_header

        data = sys.stdin.buffer.read() if str(envelope) == "-" else None
        if data is None:
            try:
                data = envelope.read_bytes()
            except OSError as exc:
                _fail(f"cannot read {envelope}: {exc}")
        assert data is not None
        try:
            head = peek_header(data)
        except MalformedMessage as exc:
            _fail(f"not a sealmeter envelope: {exc}")
            return
        info = {
            "version": head.version,
            "suite": head.suite.value,
            "direction": head.direction.name.lower(),
            "meter_id": head.meter_id,
            "sender_key_id": head.sender_key_id.hex(),
            "recipient_key_id": head.recipient_key_id.hex(),
            "bytes": len(data),
            "authenticated": False,
        }
        if as_json:
            typer.echo(json.dumps(info))
        else:
            for key, value in info.items():
                typer.echo(f"{key:>17}: {value}")

    @bench.command("protocol")
    def bench_command(
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
        suite: Annotated[
            list[str] | None, typer.Option(help="Suite to measure (repeatable; default all).")
        ] = None,
        registrations: Annotated[
            int, typer.Option(min=0, max=1000, help="Registrations per uplink.")
        ] = 4,
        seconds: Annotated[
            float, typer.Option(min=0.05, help="Seconds per pair of figures (ours vs bare).")
        ] = 2.0,
        rounds: Annotated[
            int, typer.Option(min=1, help="Warm-up call pairs before each measurement.")
        ] = 20,
    ) -> None:
        """Seal and open a full uplink per suite, beside the bare primitive calls (ratio)."""
        from sealmeter.benchmarks.protocol import run

        chosen = _suites(suite)
        if not as_json:
            typer.echo(f"measuring {len(chosen)} suite(s), {seconds:g} s per figure...", err=True)
        result = run(suites=chosen, registrations=registrations, seconds=seconds, rounds=rounds)
        if as_json:
            typer.echo(json.dumps(result, indent=1))
            return
        typer.echo(result["workload"])
        typer.echo(f"{'suite':<10} {'seal/s':>9} {'bare/s':>9} {'ratio':>6}"
                   f" {'open/s':>9} {'bare/s':>9} {'ratio':>6}")  # fmt: skip
        for name, f in result["suites"].items():
            r = f["ratio_to_primitives"]
            typer.echo(
                f"{name:<10} {f['seal_per_s']:>9.0f} {f['primitives_seal_per_s']:>9.0f} "
                f"{r['seal']:>6.2f} {f['open_per_s']:>9.0f} {f['primitives_open_per_s']:>9.0f} "
                f"{r['open']:>6.2f}"
            )
