"""Fixtures of the transport tests: a recording head-end handler and unique MQTT prefixes."""

from __future__ import annotations

import hashlib
import threading
import uuid

import pytest


class RecordingHandler:
    """A stand-in head-end: answers each uplink with a digest of it, and records every call."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []
        self._lock = threading.Lock()

    def __call__(self, uplink: bytes) -> bytes:
        with self._lock:
            self.seen.append(uplink)
        return answer_for(uplink)


def answer_for(uplink: bytes) -> bytes:
    """The downlink `RecordingHandler` gives for `uplink` (lets tests check pairing)."""
    return b"DL" + hashlib.sha256(uplink).digest()


@pytest.fixture
def handler() -> RecordingHandler:
    """A fresh recording handler."""
    return RecordingHandler()


@pytest.fixture
def topic_prefix() -> str:
    """A topic prefix no other test (or xdist worker) uses."""
    return f"sealmeter-test/{uuid.uuid4().hex}"
