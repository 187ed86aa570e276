"""The box's keys under a PKCS#11 token (an HSM; SoftHSM2 in tests), via python-pkcs11.

Two ways, both needing the token and its user PIN (the file alone is useless):

- `generate_in_token` (the real HSM path): the box's private keys are **generated in the
  token**, sensitive and non-extractable, and the head-end's private-key operations run there
  (`sealmeter.headend._token_keys`): for `nist-p256` the ECDH that opens every uplink and the
  ECDSA that signs every answer; for `ec-modern` the Ed25519 signatures. PKCS#11 tokens
  without `CKM_EC_MONTGOMERY_KEY_PAIR_GEN` (SoftHSM2 2.6.1 among them) cannot do X25519, so
  `ec-modern`'s X25519 key and any `rsa` keys stay in software, sealed as below.
- `save_with_token`: every key in software, the key file sealed by the token: the token holds
  an AES-256 key (sensitive, never extractable); the key file holds the key sets encrypted
  (PKCS#8) under a random 32-byte passphrase, and that passphrase sealed with AES-GCM by the
  token's key. The private-key operations then run in this process after the unseal.

`load_with_token` reads either file. The storage key (which seals the meters' chain state)
is always of the second kind: it is used for every uplink, symmetric, and sealed at rest.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from sealmeter.headend._keys import BoxKeys
from sealmeter.headend._token_keys import TokenEd25519Key, TokenP256Key, TokenSession
from sealmeter.headend.errors import KeyStoreError, KeyStoreLocked
from sealmeter.protocol.keys import PrivateKeys, Suite

__all__ = [
    "DEFAULT_MODULE",
    "MODULE_ENV",
    "PIN_ENV",
    "TOKEN_SUITES",
    "TokenConfig",
    "generate_in_token",
    "is_token_file",
    "load_with_token",
    "save_with_token",
    "token_label_of",
]

PIN_ENV = "SEALMETER_PKCS11_PIN"
MODULE_ENV = "SEALMETER_PKCS11_MODULE"
"""Environment variable naming the PKCS#11 module a token key file is opened with."""
DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
"""The module used when `SEALMETER_PKCS11_MODULE` is not set (Debian's SoftHSM2)."""
_FORMAT = "sealmeter-box-keys-pkcs11/1"
_FORMAT_IN_TOKEN = "sealmeter-box-keys-pkcs11/2"  # noqa: S105 - a format name
TOKEN_SUITES = (Suite.NIST_P256, Suite.EC_MODERN)
"""Suites whose private-key operations `generate_in_token` puts in the token (see above)."""
_P256_OID = "secp256r1"
_ED25519_OID = "1.3.101.112"
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
    except pkcs11.UserAlreadyLoggedIn:
        # PKCS#11 logins are per application: keys opened earlier in this process keep the
        # user logged in, and a new session shares that login
        return token.open(rw=True)
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


def _unseal_passphrase(
    session: Any, cfg: TokenConfig, doc: dict[str, Any], nonce: bytes, sealed: bytes, path: Path
) -> bytes:
    """Open a key file's sealed passphrase with the token's key-encryption key (AES-GCM in the
    token); a key file altered or sealed by another token is a `KeyStoreError`."""
    import pkcs11
    from pkcs11 import Mechanism
    from pkcs11.mechanisms import GCMParams

    kek = _kek(session, doc.get("key_label", cfg.key_label), create=False)
    try:
        secret = kek.decrypt(
            sealed, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, _AAD)
        )
    except pkcs11.PKCS11Error:
        raise KeyStoreError(
            f"the token's key does not open {path}: the file was altered or sealed by another token"
        ) from None
    return bytes(secret)


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
    try:
        doc = json.loads(path.read_text())
        if doc.get("format") == _FORMAT_IN_TOKEN:
            return _load_in_token(path, doc, cfg)
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
        secret = _unseal_passphrase(session, cfg, doc, nonce, sealed, path)
    return BoxKeys.from_bytes(blob, secret)


def is_token_file(path: Path) -> bool:
    """True when `path` is a key file that needs a PKCS#11 token (either kind)."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(doc, dict) and doc.get("format") in (_FORMAT, _FORMAT_IN_TOKEN)


def token_label_of(path: Path) -> str:
    """The label of the token a token key file was made with."""
    try:
        return str(json.loads(path.read_text())["token_label"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KeyStoreError(f"{path} names no token ({exc}); restore it from backup") from None


def _keypair(session: Any, suite: Suite, use: str, key_id: bytes, label: str) -> None:
    """Generate a sensitive, non-extractable key pair for `use` ("decrypt"/"sign") in the token."""
    import pkcs11
    from pkcs11 import Attribute, KeyType
    from pkcs11.util.ec import encode_named_curve_parameters

    key_type, oid = (
        (KeyType.EC, _P256_OID) if suite is Suite.NIST_P256 else (KeyType.EC_EDWARDS, _ED25519_OID)
    )
    private = {
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.DERIVE: use == "decrypt",
        Attribute.SIGN: use == "sign",
    }
    try:
        params = session.create_domain_parameters(
            key_type, {Attribute.EC_PARAMS: encode_named_curve_parameters(oid)}, local=True
        )
        params.generate_keypair(store=True, id=key_id, label=label, private_template=private)
    except pkcs11.PKCS11Error as exc:
        raise KeyStoreError(
            f"the token cannot generate the {suite.value} {use} key ({exc!r}); it may not "
            "support this curve: use another suite or seal software keys (save_with_token)"
        ) from None


def _sealed_x25519(key: x25519.X25519PrivateKey, secret: bytes) -> str:
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(secret),
    )
    return base64.b64encode(der).decode("ascii")


def generate_in_token(suites: list[Suite], path: Path, cfg: TokenConfig) -> BoxKeys:
    """Generate the box's keys for `suites` in the token, write the key file, return the keys.

    `nist-p256`: both key pairs in the token. `ec-modern`: the Ed25519 signing key in the
    token, the X25519 key in software, sealed. Other suites: software keys, sealed. The
    returned `BoxKeys` does its token operations in the token (keep it open while serving).
    """
    import pkcs11
    from pkcs11 import Mechanism
    from pkcs11.mechanisms import GCMParams

    if path.exists():
        raise KeyStoreError(
            f"{path} already exists; move it away first (keys are never overwritten)"
        )
    secret = base64.b64encode(os.urandom(32))
    nonce = os.urandom(12)
    software = BoxKeys.generate([s for s in suites if s not in TOKEN_SUITES])
    token_keys: dict[str, dict[str, str]] = {}
    session = _session(cfg)
    try:
        kek = _kek(session, cfg.key_label, create=True)
        try:
            sealed = kek.encrypt(
                secret, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, _AAD)
            )
        except pkcs11.PKCS11Error as exc:
            raise KeyStoreError(f"the token refused to seal the key file: {exc!r}") from None
        for suite in suites:
            if suite not in TOKEN_SUITES:
                continue
            entry: dict[str, str] = {}
            uses = ("decrypt", "sign") if suite is Suite.NIST_P256 else ("sign",)
            for use in uses:
                key_id = os.urandom(16)
                _keypair(session, suite, use, key_id, f"{cfg.key_label}/{suite.value}/{use}")
                entry[use] = key_id.hex()
            if suite is Suite.EC_MODERN:
                entry["x25519"] = _sealed_x25519(x25519.X25519PrivateKey.generate(), secret)
            token_keys[suite.value] = entry
    except BaseException:
        session.close()
        raise
    doc = {
        "format": _FORMAT_IN_TOKEN,
        "token_label": cfg.token_label,
        "key_label": cfg.key_label,
        "nonce": base64.b64encode(nonce).decode("ascii"),
        "sealed_passphrase": base64.b64encode(bytes(sealed)).decode("ascii"),
        "keys": base64.b64encode(software.to_bytes(secret)).decode("ascii"),
        "token_keys": token_keys,
    }
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=2, sort_keys=True)
    except OSError as exc:
        session.close()
        raise KeyStoreError(f"cannot write the key file {path}: {exc.strerror}") from None
    return _open_in_token(TokenSession(session), doc, bytes(secret), path)


def _load_in_token(path: Path, doc: dict[str, Any], cfg: TokenConfig) -> BoxKeys:
    try:
        nonce = base64.b64decode(doc["nonce"])
        sealed = base64.b64decode(doc["sealed_passphrase"])
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyStoreError(f"{path} is not a sealmeter token key file ({exc})") from None
    session = _session(cfg)
    try:
        secret = _unseal_passphrase(session, cfg, doc, nonce, sealed, path)
        return _open_in_token(TokenSession(session), doc, secret, path)
    except BaseException:
        session.close()
        raise


def _open_in_token(token: TokenSession, doc: dict[str, Any], secret: bytes, path: Path) -> BoxKeys:
    """The key file's software keys plus the token's keys, as one `BoxKeys`."""
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    def pair(hex_id: str) -> tuple[Any, bytes]:
        key_id = bytes.fromhex(hex_id)
        try:
            private = token.session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=key_id)
            public = token.session.get_key(object_class=ObjectClass.PUBLIC_KEY, id=key_id)
        except (pkcs11.NoSuchKey, pkcs11.MultipleObjectsReturned):
            raise KeyStoreError(
                f"the token holds no single key pair {hex_id} named in {path}; the file "
                "belongs to another token"
            ) from None
        return private, bytes(public[Attribute.EC_POINT])

    try:
        software = BoxKeys.from_bytes(base64.b64decode(doc["keys"]), secret)
        sets: dict[Suite, PrivateKeys] = dict(software.sets)
        for name, entry in doc.get("token_keys", {}).items():
            suite = Suite.from_name(name)
            sign_key, sign_point = pair(entry["sign"])
            if suite is Suite.NIST_P256:
                dec_key, dec_point = pair(entry["decrypt"])
                sets[suite] = PrivateKeys(
                    suite,
                    TokenP256Key.from_token(token, dec_key, dec_point),
                    TokenP256Key.from_token(token, sign_key, sign_point),
                )
            elif suite is Suite.EC_MODERN:
                x = serialization.load_der_private_key(base64.b64decode(entry["x25519"]), secret)
                if not isinstance(x, x25519.X25519PrivateKey):
                    raise ValueError("the sealed ec-modern key is not an X25519 key")
                sets[suite] = PrivateKeys(
                    suite, x, TokenEd25519Key.from_token(token, sign_key, sign_point)
                )
            else:
                raise ValueError(f"suite {name} cannot be held in a token")
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyStoreError(f"{path} is not a usable token key file ({exc})") from None
    return BoxKeys(sets, software.storage_key)
