"""The box's keys at rest: encrypted key file and a PKCS#11 token (SoftHSM2)."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from sealmeter.headend import BoxKeys, HeadEnd, HeadEndError, KeyStoreError, KeyStoreLocked
from sealmeter.headend.pkcs11 import TokenConfig, load_with_token, save_with_token
from sealmeter.headend.testing import MeterSide
from sealmeter.protocol import Suite
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
