"""The protocol commands: key files, envelope inspection, and the benchmark's JSON shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sealmeter.cli import app
from sealmeter.protocol import PrivateKeys, PublicKeys, Suite, seal_uplink
from tests.protocol import conftest as c

runner = CliRunner()


def test_keygen_writes_encrypted_private_and_public_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SM_TEST_PASS", "s3cret")
    key, pub = tmp_path / "meter.key", tmp_path / "meter.pub"
    args = ["protocol", "keygen", str(key), "--suite", "nist-p256", "--public-out", str(pub),
            "--passphrase-env", "SM_TEST_PASS"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    keys = PrivateKeys.from_bytes(key.read_bytes(), b"s3cret")
    assert PublicKeys.from_bytes(pub.read_bytes()) == keys.public()
    assert keys.key_id.hex() in result.output
    again = runner.invoke(app, args)
    assert again.exit_code == 1
    assert "--force" in again.output


def test_keygen_refuses_bad_suite_and_missing_passphrase(tmp_path: Path) -> None:
    bad = runner.invoke(app, ["protocol", "keygen", str(tmp_path / "k"), "--suite", "des"])
    assert bad.exit_code == 1
    assert "ec-modern" in bad.output
    unset = runner.invoke(
        app, ["protocol", "keygen", str(tmp_path / "k"), "--passphrase-env", "SM_UNSET_VAR_X"]
    )
    assert unset.exit_code == 1
    assert "SM_UNSET_VAR_X" in unset.output
    assert not (tmp_path / "k").exists()


def test_inspect_reads_the_clear_header(tmp_path: Path) -> None:
    p = c.parties_for(Suite.EC_MODERN)
    env = tmp_path / "up.bin"
    env.write_bytes(seal_uplink(c.uplink(1), meter=p.meter, headend=p.headend.public()))
    result = runner.invoke(app, ["protocol", "inspect", str(env), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["meter_id"] == c.METER_ID
    assert info["suite"] == "ec-modern"
    assert info["direction"] == "uplink"
    assert info["authenticated"] is False
    garbage = tmp_path / "junk.bin"
    garbage.write_bytes(b"\x07junk")
    bad = runner.invoke(app, ["protocol", "inspect", str(garbage)])
    assert bad.exit_code == 1
    assert "not a sealmeter envelope" in bad.output


def test_bench_protocol_json_has_every_figure() -> None:
    result = runner.invoke(
        app,
        ["bench", "protocol", "--json", "--suite", "symmetric", "--seconds", "0.05",
         "--rounds", "1", "--registrations", "2"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)["suites"]["symmetric"]
    for key in ("seal_per_s", "open_per_s", "primitives_seal_per_s", "primitives_open_per_s"):
        assert figures[key] > 0
    assert set(figures["ratio_to_primitives"]) == {"seal", "open"}
    assert figures["ratio_to_primitives"]["seal"] == pytest.approx(
        figures["seal_per_s"] / figures["primitives_seal_per_s"], abs=0.0011
    )
