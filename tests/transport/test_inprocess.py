"""The in-process carrier: bytes in, the handler's bytes out; environment faults become drops."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealmeter.errors import EnvironmentFault
from sealmeter.transport import (
    Carrier,
    InProcessCarrier,
    TransportConfigError,
    TransportDropped,
    TransportError,
    TransportTimeout,
)

from .conftest import RecordingHandler, answer_for


@given(st.binary(max_size=4096))
def test_any_bytes_reach_the_handler_unchanged_and_its_answer_comes_back(data: bytes) -> None:
    handler = RecordingHandler()
    carrier = InProcessCarrier(handler)
    assert isinstance(carrier, Carrier)
    assert carrier.exchange(data) == answer_for(data)
    assert handler.seen == [data]


def test_a_bytearray_uplink_is_copied_so_later_mutation_changes_nothing() -> None:
    handler = RecordingHandler()
    buf = bytearray(b"abc")
    InProcessCarrier(handler).exchange(buf)  # type: ignore[arg-type]
    buf[0] = 0
    assert handler.seen == [b"abc"]


def test_a_store_failure_in_the_handler_is_reported_as_a_dropped_exchange() -> None:
    class StoreDown(EnvironmentFault):
        pass

    def failing(_: bytes) -> bytes:
        raise StoreDown("database gone")

    with pytest.raises(TransportDropped, match="database gone") as info:
        InProcessCarrier(failing).exchange(b"x")
    assert isinstance(info.value, EnvironmentFault)
    assert isinstance(info.value.__cause__, StoreDown)


def test_a_transport_error_from_the_handler_passes_through_unchanged() -> None:
    def crash(_: bytes) -> bytes:
        raise TransportTimeout("simulated crash")

    with pytest.raises(TransportTimeout, match="simulated crash"):
        InProcessCarrier(crash).exchange(b"x")


def test_transport_errors_are_environment_faults() -> None:
    assert issubclass(TransportError, EnvironmentFault)


def test_a_non_callable_handler_is_a_usage_error() -> None:
    with pytest.raises(TransportConfigError, match="callable"):
        InProcessCarrier(b"not a function")  # type: ignore[arg-type]
