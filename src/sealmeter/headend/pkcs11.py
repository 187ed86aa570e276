"""The box's keys under a PKCS#11 token (an HSM; SoftHSM2 in tests), via python-pkcs11.

The token holds an AES-256 key that is sensitive and never extractable. The key file holds
the box's key sets encrypted (PKCS#8) under a random 32-byte passphrase, and that passphrase
sealed with AES-GCM by the token's key. Loading the keys needs the token and its user PIN;
the file alone is useless, and nothing secret sits in the file in the clear.

The private-key operations themselves (ECDH, signatures) still run in this process after the
unseal; doing them inside the token needs the protocol core to accept token-held keys.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sealmeter.headend._keys import BoxKeys
from sealmeter.headend.errors import KeyStoreError, KeyStoreLocked

__all__ = ["PIN_ENV", "TokenConfig", "load_with_token", "save_with_token"]

PIN_ENV = "SEALMETER_PKCS11_PIN"
_FORMAT = "sealmeter-box-keys-pkcs11/1"
_AAD = b"sealmeter/box-keys/pkcs11/v1"


@dataclass(frozen=True, repr=False)
class TokenConfig:
    """Where the token is: the PKCS#11 module, the token's label, its user PIN, our key's label."""

    module: str
    token_label: str
    pin: str
    key_label: str = "sealmeter-box-kek"

    def __repr__(self) -> str:
        """Never show the PIN."""
        return f"TokenConfig({self.module!r}, token={self.token_label!r}, key={self.key_label!r})"


def _session(cfg: TokenConfig) -> Any:
    try:
        import pkcs11
    except ImportError:  # pragma: no cover - python-pkcs11 is a declared dependency
        raise KeyStoreError("python-pkcs11 is not installed; pip install python-pkcs11") from None
    try:
        lib = pkcs11.lib(cfg.module)
    except (RuntimeError, OSError) as exc:
        raise KeyStoreError(
            f"cannot load the PKCS#11 module {cfg.module}: {exc}; install SoftHSM2 or your "
            "HSM's module and give its path"
        ) from None
    try:
        token = lib.get_token(token_label=cfg.token_label)
    except (pkcs11.NoSuchToken, pkcs11.MultipleTokensReturned):
        raise KeyStoreError(
            f"no single token labelled {cfg.token_label!r} in {cfg.module}; initialise it "
            "(softhsm2-util --init-token) or fix the label"
        ) from None
    try:
        return token.open(user_pin=cfg.pin, rw=True)
    except (pkcs11.PinIncorrect, pkcs11.PinLenRange, pkcs11.PinInvalid):
        raise KeyStoreLocked(
            f"the PIN for token {cfg.token_label!r} is wrong; set {PIN_ENV} to the user PIN"
        ) from None
    except pkcs11.PKCS11Error as exc:
        raise KeyStoreError(f"cannot open token {cfg.token_label!r}: {exc!r}") from None


def _kek(session: Any, label: str, create: bool) -> Any:
    import pkcs11
    from pkcs11 import Attribute, KeyType

    try:
        return session.get_key(key_type=KeyType.AES, label=label)
    except pkcs11.NoSuchKey:
        if not create:
            raise KeyStoreError(
                f"the token holds no key labelled {label!r}; the key file was sealed with "
                "another token"
            ) from None
    return session.generate_key(
        KeyType.AES,
        256,
        label=label,
        store=True,
        template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
    )


def save_with_token(keys: BoxKeys, path: Path, cfg: TokenConfig) -> None:
    """Write `keys` to `path` sealed by the token (creating the token's AES key if needed)."""
    import pkcs11
    from pkcs11 import Mechanism
    from pkcs11.mechanisms import GCMParams

    if path.exists():
        raise KeyStoreError(
            f"{path} already exists; move it away first (keys are never overwritten)"
        )
    secret = base64.b64encode(os.urandom(32))
    nonce = os.urandom(12)
    with _session(cfg) as session:
        kek = _kek(session, cfg.key_label, create=True)
        try:
            sealed = kek.encrypt(
                secret, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, _AAD)
            )
        except pkcs11.PKCS11Error as exc:
            raise KeyStoreError(f"the token refused to seal the key file: {exc!r}") from None
    doc = {
        "format": _FORMAT,
        "token_label": cfg.token_label,
        "key_label": cfg.key_label,
        "nonce": base64.b64encode(nonce).decode("ascii"),
        "sealed_passphrase": base64.b64encode(bytes(sealed)).decode("ascii"),
        "keys": base64.b64encode(keys.to_bytes(secret)).decode("ascii"),
    }
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=2, sort_keys=True)
    except OSError as exc:
        raise KeyStoreError(f"cannot write the key file {path}: {exc.strerror}") from None


def load_with_token(path: Path, cfg: TokenConfig) -> BoxKeys:
    """Unseal the key file at `path` with the token; a wrong token or PIN is a clear error."""
    import pkcs11
    from pkcs11 import Mechanism
    from pkcs11.mechanisms import GCMParams

    try:
        doc = json.loads(path.read_text())
        if doc.get("format") != _FORMAT:
            raise ValueError(f"format {doc.get('format')!r}")
        nonce = base64.b64decode(doc["nonce"])
        sealed = base64.b64decode(doc["sealed_passphrase"])
        blob = base64.b64decode(doc["keys"])
    except OSError as exc:
        raise KeyStoreError(f"cannot read the key file {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise KeyStoreError(
            f"{path} is not a token-sealed sealmeter key file ({exc}); restore it from backup"
        ) from None
    with _session(cfg) as session:
        kek = _kek(session, doc.get("key_label", cfg.key_label), create=False)
        try:
            secret = kek.decrypt(
                sealed, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, _AAD)
            )
        except pkcs11.PKCS11Error:
            raise KeyStoreError(
                f"the token's key does not open {path}: the file was altered or sealed by "
                "another token"
            ) from None
    return BoxKeys.from_bytes(blob, bytes(secret))
