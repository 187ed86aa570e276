"""The box's keys at rest: encrypted key file and a PKCS#11 token (SoftHSM2)."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from typer.testing import CliRunner

from sealmeter.cli import app
from sealmeter.headend import BoxKeys, HeadEnd, HeadEndError, KeyStoreError, KeyStoreLocked
from sealmeter.headend.pkcs11 import (
    TokenConfig,
    generate_in_token,
    load_with_token,
    save_with_token,
)
from sealmeter.headend.testing import MeterSide
from sealmeter.protocol import Suite
from sealmeter.web._serve import open_service
from tests._support import unavailable
from tests.headend.conftest import T0

PINS = ("--pin", "4321", "--so-pin", "8765")
SOFTHSM_LIBS = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
)


def test_key_file_round_trip_and_wrong_passphrase(tmp_path: Path, box_keys: BoxKeys) -> None:
    path = tmp_path / "box.keys"
    box_keys.save(path, b"correct horse")
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = BoxKeys.load(path, b"correct horse")
    assert {s: k.key_id for s, k in loaded.sets.items()} == {
        s: k.key_id for s, k in box_keys.sets.items()
    }
    text = path.read_text()
    assert "PRIVATE" not in text  # nothing in the clear
    with pytest.raises(KeyStoreLocked, match="passphrase"):
        BoxKeys.load(path, b"wrong")
    with pytest.raises(KeyStoreError, match="already exists"):
        box_keys.save(path, b"x")
    with pytest.raises(KeyStoreLocked):
        box_keys.to_bytes(b"")
    (tmp_path / "junk.keys").write_text("{not json")
    with pytest.raises(KeyStoreError, match="not a sealmeter box key file"):
        BoxKeys.load(tmp_path / "junk.keys", b"x")
    with pytest.raises(KeyStoreError, match="cannot read"):
        BoxKeys.load(tmp_path / "missing.keys", b"x")


def test_keys_never_appear_in_repr(box_keys: BoxKeys) -> None:
    text = repr(box_keys)
    assert "ec-modern" in text
    raw = box_keys.private(Suite.EC_MODERN).decryption
    assert raw is not None
    assert raw.private_bytes_raw().hex() not in text  # type: ignore[union-attr]


def test_a_suite_the_box_does_not_hold_is_a_clear_error(box_keys: BoxKeys) -> None:
    with pytest.raises(HeadEndError, match="holds no rsa keys"):
        box_keys.private(Suite.RSA)


def _softhsm() -> str:
    lib = next((p for p in SOFTHSM_LIBS if Path(p).exists()), None)
    if lib is None or shutil.which("softhsm2-util") is None:
        unavailable("SoftHSM2 is not installed (apt-get install softhsm2; make sysdeps)")
    return lib


def test_keys_sealed_by_a_pkcs11_token_serve_a_head_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All token checks in one test: the PKCS#11 library is initialised once per process."""
    lib = _softhsm()
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    label = f"sm-{os.getpid()}"
    subprocess.run(
        [*("softhsm2-util", "--init-token", "--free", "--label", label), *PINS],
        check=True,
        capture_output=True,
    )
    keys = BoxKeys.generate([Suite.EC_MODERN])
    cfg = TokenConfig(lib, label, "4321")
    path = tmp_path / "box.p11.keys"
    save_with_token(keys, path, cfg)
    assert "4321" not in repr(cfg)
    loaded = load_with_token(path, cfg)
    assert loaded.public(Suite.EC_MODERN) == keys.public(Suite.EC_MODERN)
    # the unsealed keys serve a head-end: a meter sealed for them is answered
    he = HeadEnd.open("sqlite://", loaded)
    m = MeterSide("hsm1", keys.public(Suite.EC_MODERN), random.Random(1))
    he.provision(m.provisioning("c"), T0)
    m.register(T0, {"1.8.1": (1, Decimal("0.01"))})
    assert m.accept(he.handle_uplink(m.uplink(T0), T0), T0).enable_code is not None
    he.close()
    # `sealmeter serve` opens a token key file with the token alone: no passphrase asked
    monkeypatch.setenv("SEALMETER_PKCS11_MODULE", lib)
    monkeypatch.setenv("SEALMETER_PKCS11_PIN", "4321")

    def no_passphrase() -> bytes:
        raise AssertionError("a token key file must not ask for a passphrase")

    service = open_service(f"sqlite:///{tmp_path / 'serve.db'}", path, no_passphrase)
    assert service.keys_created is False
    service.close()
    with pytest.raises(KeyStoreLocked, match="PIN"):
        load_with_token(path, TokenConfig(lib, label, "0000"))
    with pytest.raises(KeyStoreError, match="no single token"):
        load_with_token(path, TokenConfig(lib, "no-such-token", "4321"))
    tampered = path.read_text().replace('"nonce": "', '"nonce": "AAAA', 1)
    bad = tmp_path / "tampered.keys"
    bad.write_text(tampered)
    with pytest.raises(KeyStoreError):
        load_with_token(bad, cfg)
    with pytest.raises(KeyStoreError, match="already exists"):
        save_with_token(keys, path, cfg)
    _keys_generated_in_the_token_do_their_operations_there(lib, label, tmp_path)


def _serve_one_uplink(keys: BoxKeys, suite: Suite, meter_id: str) -> None:
    """A meter of `suite` sealed for `keys` gets an answer it verifies, with an enable code."""
    he = HeadEnd.open("sqlite://", keys)
    m = MeterSide(meter_id, keys.public(suite), random.Random(7), suite)
    he.provision(m.provisioning("c"), T0)
    m.register(T0, {"1.8.1": (5, Decimal("0.02"))})
    down = m.accept(he.handle_uplink(m.uplink(T0), T0), T0)  # verifies the token's signature
    assert down.enable_code is not None
    assert [r.seq for r in he.list_registrations().items] == [1]
    assert he.list_rejections().items == ()
    he.close()


def _keys_generated_in_the_token_do_their_operations_there(
    lib: str, label: str, tmp_path: Path
) -> None:
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    cfg = TokenConfig(lib, label, "4321", key_label="box-in-token")
    path = tmp_path / "box.in-token.keys"
    keys = generate_in_token([Suite.NIST_P256, Suite.EC_MODERN], path, cfg)
    p256, modern = keys.private(Suite.NIST_P256), keys.private(Suite.EC_MODERN)
    # the private keys are not in this process: asking for them is refused
    for key in (p256.decryption, p256.signing, modern.signing):
        assert key is not None
        with pytest.raises(KeyStoreError, match="held in the PKCS#11 token"):
            key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    with pytest.raises(KeyStoreError, match="held in the PKCS#11 token"):
        keys.to_bytes(b"passphrase")
    # ... and in the token they are sensitive and never extractable
    token = pkcs11.lib(lib).get_token(token_label=label)
    with token.open() as session:  # the keys' own session keeps this process logged in
        mine = [
            k
            for k in session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})
            if str(k.label).startswith("box-in-token/")
        ]
        assert sorted(str(k.label) for k in mine) == [
            "box-in-token/ec-modern/sign",
            "box-in-token/nist-p256/decrypt",
            "box-in-token/nist-p256/sign",
        ]
        for k in mine:
            assert k[Attribute.SENSITIVE] is True
            assert k[Attribute.EXTRACTABLE] is False
            with pytest.raises(pkcs11.AttributeSensitive):
                k[Attribute.VALUE]
    # P-256: the uplink is opened by ECDH in the token, the answer signed by ECDSA in it;
    # ec-modern: the answer is signed by Ed25519 in the token
    _serve_one_uplink(keys, Suite.NIST_P256, "hsm-p256")
    _serve_one_uplink(keys, Suite.EC_MODERN, "hsm-modern")
    # the file alone reopens the same token keys
    again = load_with_token(path, cfg)
    assert again.public(Suite.NIST_P256) == keys.public(Suite.NIST_P256)
    assert again.public(Suite.EC_MODERN) == keys.public(Suite.EC_MODERN)
    _serve_one_uplink(again, Suite.NIST_P256, "hsm-p256b")
    # another token (a fresh one without these keys) cannot use the file
    other = f"{label}-other"
    subprocess.run(
        [*("softhsm2-util", "--init-token", "--free", "--label", other), *PINS],
        check=True,
        capture_output=True,
    )
    with pytest.raises(KeyStoreError):
        load_with_token(path, TokenConfig(lib, other, "4321", key_label="box-in-token"))
    # the CLI: keys generated in the token, then read through the token for every command
    env = {"SEALMETER_PKCS11_PIN": "4321", "SEALMETER_PKCS11_MODULE": lib}
    runner = CliRunner()
    cli_keys = tmp_path / "cli.keys"
    made = runner.invoke(
        app,
        [
            *("headend", "keys", "init", "--keys", str(cli_keys), "--suite", "nist-p256"),
            *("--pkcs11-module", lib, "--token-label", label, "--in-token"),
        ],
        env=env,
    )
    assert made.exit_code == 0, made.output
    out = tmp_path / "cli.pub"
    shown = runner.invoke(
        app,
        [
            "headend",
            "keys",
            "public",
            "--keys",
            str(cli_keys),
            "--suite",
            "nist-p256",
            "-o",
            str(out),
        ],
        env=env,
    )
    assert shown.exit_code == 0, shown.output
    cfg_cli = TokenConfig(lib, label, "4321")
    assert out.read_bytes() == load_with_token(cli_keys, cfg_cli).public(Suite.NIST_P256).to_bytes()


def test_chain_state_is_sealed_at_rest(tmp_path: Path, box_keys: BoxKeys) -> None:
    he = HeadEnd.open(f"sqlite:///{tmp_path / 'h.db'}", box_keys)
    m = MeterSide("sealed1", box_keys.public(Suite.EC_MODERN), random.Random(4))
    he.provision(m.provisioning("c"), T0)
    stored = he.store.get_meter("sealed1").chain_state
    assert m.chain_key not in stored  # K_0 is not in the database in the clear
    m.register(T0, {"1.8.1": (1, Decimal("0.01"))})
    m.accept(he.handle_uplink(m.uplink(T0), T0), T0)
    assert m.chain_key not in he.store.get_meter("sealed1").chain_state
    he.close()
    # another key file cannot read this database's chain state: a clear error, nothing stored
    other = BoxKeys.generate([Suite.EC_MODERN])
    wrong = HeadEnd.open(f"sqlite:///{tmp_path / 'h.db'}", other)
    m.register(T0, {"1.8.1": (1, Decimal("0.01"))})
    with pytest.raises(KeyStoreError, match="another key file"):
        wrong.handle_uplink(m.uplink(T0), T0)
    assert len(wrong.list_registrations().items) == 1
    wrong.close()
    # the storage key survives the key file
    path = tmp_path / "k.json"
    box_keys.save(path, b"pw")
    assert BoxKeys.load(path, b"pw").storage_key == box_keys.storage_key
