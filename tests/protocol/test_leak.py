"""The seed's literal layout D1 = (encrypt(ek_BOX, m1), sign(sk_SM, hash(m1))) leaks a guessed
reading to anyone with the meter's public key; our envelope signs what is sent and does not.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sealmeter.protocol import (
    RegisterUsage,
    Registration,
    Suite,
    Uplink,
    encode_uplink,
    seal_uplink,
)
from tests.protocol import conftest as c

TRUE_USAGE = 1234
CANDIDATES = range(0, 3000)
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def _seed_m1(usage: int) -> bytes:
    """The seed's m1 = #K, R, V1, F1, V2, F2, t, A_K with A_K = hash(INPUT) (eq. 10-12)."""
    charge = f"{usage * 31 / 100:.2f}"
    text = f"13|R|{usage}|{charge}|0|0.00|8491028108032001"
    return f"{text}|{hashlib.sha256(text.encode()).hexdigest()}".encode()


def _seed_literal_d1(
    m1: bytes, box: rsa.RSAPrivateKey, sm: rsa.RSAPrivateKey
) -> tuple[bytes, bytes]:
    """D1 = M1, sig_SM exactly as the seed writes it (eq. 13-16), with sound primitives."""
    content_key = AESGCM.generate_key(bit_length=256)
    nonce = bytes(12)
    m1_cipher = box.public_key().encrypt(content_key, _OAEP) + AESGCM(content_key).encrypt(
        nonce, m1, None
    )
    h1 = hashlib.sha256(m1).digest()
    sig = sm.sign(h1, _PSS, utils.Prehashed(hashes.SHA256()))
    return m1_cipher, sig


def _confirms(verify_key: object, sig: bytes, guess: bytes) -> bool:
    """Does the signature confirm `guess` (as hash or as message) under the meter's key?"""
    digest = hashlib.sha256(guess).digest()
    try:
        if isinstance(verify_key, rsa.RSAPublicKey):
            verify_key.verify(sig, digest, _PSS, utils.Prehashed(hashes.SHA256()))
        elif isinstance(verify_key, ed25519.Ed25519PublicKey):
            verify_key.verify(sig, guess)
        elif isinstance(verify_key, ec.EllipticCurvePublicKey):
            r, s = int.from_bytes(sig[:32]), int.from_bytes(sig[32:])
            verify_key.verify(utils.encode_dss_signature(r, s), guess, ec.ECDSA(hashes.SHA256()))
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def test_seed_literal_layout_leaks_a_guessed_reading() -> None:
    rsa_parties = c.parties_for(Suite.RSA)
    box = rsa_parties.headend.decryption
    sm = rsa_parties.meter.signing
    assert isinstance(box, rsa.RSAPrivateKey)
    assert isinstance(sm, rsa.RSAPrivateKey)
    _, sig = _seed_literal_d1(_seed_m1(TRUE_USAGE), box, sm)
    vk_sm = sm.public_key()
    # the eavesdropper holds only vk_SM (public) and D1, and tries every plausible reading
    confirmed = [u for u in CANDIDATES if _confirms(vk_sm, sig, _seed_m1(u))]
    assert confirmed == [TRUE_USAGE]


def _our_plaintext(usage: int, template: Uplink) -> bytes:
    reg = template.registrations[0]
    guessed = replace(reg, registers=(RegisterUsage("1.8.1", usage, reg.registers[0].charge),))
    return encode_uplink(replace(template, registrations=(guessed,)))


@pytest.mark.parametrize("suite", [Suite.RSA, Suite.EC_MODERN, Suite.NIST_P256], ids=str)
def test_our_envelope_does_not_confirm_any_guess(suite: Suite) -> None:
    p = c.parties_for(suite)
    reg = Registration(
        1,
        c.draft().kind,
        c.METER_ID,
        (RegisterUsage("1.8.1", TRUE_USAGE, c.draft().registers[0].charge),),
        "s",
        1,
        c.T0,
        auth_code=bytes(32),
    )
    template = Uplink(c.METER_ID, c.T0, c.NONCE, (reg,))
    data = seal_uplink(template, meter=p.meter, headend=p.headend.public())
    sig_len = {Suite.RSA: 384, Suite.EC_MODERN: 64, Suite.NIST_P256: 64}[suite]
    sig = data[-sig_len:]
    vk = p.meter.public().verification
    # the attacker is even given every plaintext byte except the reading (auth code included)
    confirmed = [u for u in CANDIDATES if _confirms(vk, sig, _our_plaintext(u, template))]
    assert confirmed == []
    # the signature does verify, but only over the bytes that were sent
    assert _confirms(vk, sig, data[:-sig_len])
    # and the ciphertext itself cannot be re-derived from a guess: sealing the true plaintext
    # again gives different bytes (fresh ephemeral key / content key per message)
    again = seal_uplink(template, meter=p.meter, headend=p.headend.public())
    assert again[:-sig_len] != data[:-sig_len]
    assert _our_plaintext(TRUE_USAGE, template) not in data
