"""The box's own private keys at rest: an encrypted key file, or wrapped by a PKCS#11 token.

The head-end holds one key set (`PrivateKeys` of the protocol core) per crypto suite it
serves. By default they live in a key file, each set encrypted under a passphrase (PKCS#8
with the best available encryption, via the protocol core); the passphrase comes from the
environment (`SEALMETER_KEY_PASSPHRASE`) or a prompt, never from the repository. With a
PKCS#11 token (`sealmeter.headend.pkcs11`), the key file is sealed under an AES key that never
leaves the token.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sealmeter.headend.errors import HeadEndError, KeyStoreError, KeyStoreLocked
from sealmeter.protocol.errors import ProtocolUsageError
from sealmeter.protocol.keys import (
    DEFAULT_SUITE,
    PrivateKeys,
    PublicKeys,
    Suite,
    generate_keys,
    symmetric_keys,
)

__all__ = ["PASSPHRASE_ENV", "BoxKeys"]

PASSPHRASE_ENV = "SEALMETER_KEY_PASSPHRASE"  # noqa: S105 - the variable name, not a secret
_FORMAT = "sealmeter-box-keys/1"


@dataclass(frozen=True, eq=False, repr=False)
class BoxKeys:
    """The head-end's private keys, one set per suite; never printed, never logged."""

    sets: Mapping[Suite, PrivateKeys]
    storage_key: bytes | None = None  # seals the meters' MAC-chain state in the database
    previous: Mapping[Suite, PrivateKeys] = field(default_factory=dict)
    """Key sets replaced by a box key rollover, kept until every meter moved to the new ones."""

    def __repr__(self) -> str:
        """Name the suites and key ids only."""
        inner = ", ".join(f"{s.value}:{k.key_id.hex()}" for s, k in self.sets.items())
        return f"BoxKeys({inner})"

    @classmethod
    def generate(cls, suites: Iterable[Suite] = (DEFAULT_SUITE,)) -> BoxKeys:
        """Fresh keys for each of `suites` from the operating system's randomness."""
        return cls({suite: generate_keys(suite) for suite in suites}, os.urandom(32))

    def private(self, suite: Suite) -> PrivateKeys:
        """The key set for `suite`; `HeadEndError` if the box does not serve that suite."""
        try:
            return self.sets[suite]
        except KeyError:
            served = ", ".join(s.value for s in self.sets) or "none"
            raise HeadEndError(
                f"the head-end holds no {suite.value} keys (it serves: {served}); generate "
                "them with `sealmeter headend keys init --suite`"
            ) from None

    def public(self, suite: Suite) -> PublicKeys:
        """The public half for `suite`, to install in meters at manufacture."""
        return self.private(suite).public()

    def to_bytes(self, passphrase: bytes) -> bytes:
        """The key file's contents: JSON naming each suite, each key set encrypted."""
        if not passphrase:
            raise KeyStoreLocked("an empty passphrase cannot protect the box's keys; set one")
        doc: dict[str, object] = {
            "format": _FORMAT,
            "sets": {
                s.value: base64.b64encode(k.to_bytes(passphrase)).decode("ascii")
                for s, k in self.sets.items()
            },
        }
        if self.storage_key is not None:
            sealed = symmetric_keys(self.storage_key).to_bytes(passphrase)
            doc["storage"] = base64.b64encode(sealed).decode("ascii")
        if self.previous:
            doc["previous"] = {
                s.value: base64.b64encode(k.to_bytes(passphrase)).decode("ascii")
                for s, k in self.previous.items()
            }
        return json.dumps(doc, indent=2, sort_keys=True).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes, passphrase: bytes) -> BoxKeys:
        """Load a key file's contents; a wrong passphrase raises `KeyStoreLocked`."""
        try:
            doc = json.loads(data.decode("utf-8"))
            if doc.get("format") != _FORMAT:
                raise ValueError(f"format {doc.get('format')!r}")
            raw = {Suite.from_name(n): base64.b64decode(v) for n, v in doc["sets"].items()}
            old = {
                Suite.from_name(n): base64.b64decode(v) for n, v in doc.get("previous", {}).items()
            }
        except (ValueError, KeyError, TypeError, AttributeError, ProtocolUsageError) as exc:
            raise KeyStoreError(
                f"the key file is not a sealmeter box key file ({exc}); restore it from backup"
            ) from None
        sets: dict[Suite, PrivateKeys] = {}
        previous: dict[Suite, PrivateKeys] = {}
        for target, source in ((sets, raw), (previous, old)):
            for suite, blob in source.items():
                try:
                    target[suite] = PrivateKeys.from_bytes(blob, passphrase)
                except ProtocolUsageError:
                    raise KeyStoreLocked(
                        f"cannot decrypt the {suite.value} keys: wrong passphrase (or a corrupt "
                        f"file); set {PASSPHRASE_ENV} to the right one"
                    ) from None
        storage: bytes | None = None
        if "storage" in doc:
            try:
                storage = PrivateKeys.from_bytes(
                    base64.b64decode(doc["storage"]), passphrase
                ).secret
            except (ProtocolUsageError, ValueError):
                raise KeyStoreLocked(
                    f"cannot decrypt the storage key: wrong passphrase (or a corrupt file); "
                    f"set {PASSPHRASE_ENV} to the right one"
                ) from None
        return cls(sets, storage, previous)

    def save(self, path: Path, passphrase: bytes) -> None:
        """Write the encrypted key file (mode 0600), atomically; refuse to overwrite."""
        if path.exists():
            raise KeyStoreError(
                f"{path} already exists; move it away first (keys are never overwritten)"
            )
        tmp = path.with_name(path.name + ".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.to_bytes(passphrase))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            raise KeyStoreError(f"cannot write the key file {path}: {exc}") from None

    @classmethod
    def load(cls, path: Path, passphrase: bytes) -> BoxKeys:
        """Read and decrypt the key file at `path`.

        A key file made with a PKCS#11 token (`sealmeter.headend.pkcs11`) is opened with the
        token instead: its module from `SEALMETER_PKCS11_MODULE`, its PIN from
        `SEALMETER_PKCS11_PIN`; `passphrase` is then not used.
        """
        from sealmeter.headend import pkcs11

        if pkcs11.is_token_file(path):
            module = os.environ.get(pkcs11.MODULE_ENV, pkcs11.DEFAULT_MODULE)
            pin = os.environ.get(pkcs11.PIN_ENV, "")
            cfg = pkcs11.TokenConfig(module, pkcs11.token_label_of(path), pin)
            return pkcs11.load_with_token(path, cfg)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise KeyStoreError(
                f"cannot read the key file {path}: {exc.strerror}; create it with "
                "`sealmeter headend keys init`"
            ) from None
        return cls.from_bytes(data, passphrase)


def passphrase_from_env(prompt: bool = False) -> bytes:
    """The key-file passphrase from `SEALMETER_KEY_PASSPHRASE`, or a terminal prompt."""
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value.encode("utf-8")
    if prompt:
        import getpass

        entered = getpass.getpass("passphrase for the head-end keys: ")
        if entered:
            return entered.encode("utf-8")
    raise KeyStoreLocked(
        f"no passphrase for the head-end keys: set {PASSPHRASE_ENV} or run interactively"
    )
