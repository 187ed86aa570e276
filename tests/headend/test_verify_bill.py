"""The offline bill check on files it did not make: any export gives a verdict or a typed error."""

from __future__ import annotations

import base64
import json
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealmeter.headend import BoxKeys, HeadEnd, HeadEndError
from sealmeter.headend.testing import MeterSide
from sealmeter.headend.verify_bill import BillCheck, verify_export
from sealmeter.protocol import Suite
from sealmeter.store import Store
from tests.headend.conftest import T0
from tests.web.conftest import PRICES, SCHEDULE, charge


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """A genuine export of four uplinks of one meter on a schedule, and its public keys."""
    keys = BoxKeys.generate([Suite.EC_MODERN])
    path = Path(tmp_path_factory.mktemp("export")) / "headend.db"
    he = HeadEnd(Store.open(f"sqlite:///{path}"), keys)
    m = MeterSide("m1", keys.public(Suite.EC_MODERN), random.Random(1))
    he.publish_schedule(SCHEDULE, T0 - timedelta(days=1))
    he.provision(m.provisioning("cust", schedule_id="home"), T0)
    for k in range(4):
        at = T0 + timedelta(hours=k)
        usage = {obis: (100 * (k + 1), charge(obis, 100 * (k + 1))) for obis in PRICES}
        m.register(at, usage, schedule_id="home", schedule_version=1)
        m.accept(he.handle_uplink(m.uplink(at), at), at)
    data = he.export_registrations("m1")
    he.close()
    return data, m.keys.public().to_bytes()


_ODD = [None, 0, -1, 2**70, "", "x", [], {}, "AAAA", "AAAAAAAAAAAAAAAAAAAAAA==", 1.5, True, "{"]


def _mutate(obj: Any, rng: random.Random) -> Any:
    """`obj` (JSON) with one field somewhere replaced, dropped, repeated or edited."""
    if isinstance(obj, dict) and obj:
        key = rng.choice(sorted(obj))
        roll = rng.random()
        if roll < 0.3:
            obj[key] = rng.choice(_ODD)
        elif roll < 0.4:
            del obj[key]
        else:
            obj[key] = _mutate(obj[key], rng)
    elif isinstance(obj, list) and obj:
        i = rng.randrange(len(obj))
        roll = rng.random()
        if roll < 0.3:
            obj[i] = rng.choice(_ODD)
        elif roll < 0.4:
            obj.append(obj[i])
        elif roll < 0.5:
            del obj[i]
        else:
            obj[i] = _mutate(obj[i], rng)
    elif isinstance(obj, str) and obj:
        chars = list(obj)
        chars[rng.randrange(len(chars))] = chr(rng.randrange(32, 127))
        return "".join(chars)
    return obj


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rng=st.randoms(use_true_random=False), edits=st.integers(1, 4), own_key=st.booleans())
def test_any_edited_export_gives_a_verdict_or_a_typed_error(
    export: tuple[bytes, bytes], rng: random.Random, edits: int, own_key: bool
) -> None:
    data, public = export
    doc = json.loads(data)
    for _ in range(edits):
        doc = _mutate(doc, rng)
    genuine = verify_export(data, public_keys=public)
    try:
        check = verify_export(json.dumps(doc).encode(), public_keys=public if own_key else None)
    except HeadEndError:
        return
    assert isinstance(check, BillCheck)
    if check.ok:  # edits can drop signed uplinks unnoticed, never add usage or money
        assert check.registrations <= genuine.registrations
        assert check.total <= genuine.total
        most = {line.register: line.usage for line in genuine.lines}
        assert all(line.usage <= most[line.register] for line in check.lines)


def test_a_disclosed_key_of_the_wrong_length_is_a_problem_not_a_crash(
    export: tuple[bytes, bytes],
) -> None:
    data, public = export
    doc = json.loads(data)
    doc["uplinks"][1]["content_key"] = base64.b64encode(bytes(16)).decode()
    check = verify_export(json.dumps(doc).encode(), public_keys=public)
    assert not check.ok
    assert any(p.startswith("uplink 1:") for p in check.problems), check.problems


def test_a_malformed_schedule_in_the_export_is_a_typed_error(export: tuple[bytes, bytes]) -> None:
    data, public = export
    doc = json.loads(data)
    doc["schedules"] = ["{"]
    with pytest.raises(HeadEndError, match="a schedule in the export is invalid"):
        verify_export(json.dumps(doc).encode(), public_keys=public)


def test_the_genuine_export_verifies(export: tuple[bytes, bytes]) -> None:
    data, public = export
    check = verify_export(data, public_keys=public)
    assert check.ok, check.problems
    assert (check.uplinks, check.registrations) == (4, 4)
