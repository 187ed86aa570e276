"""The shared test kit: a missing prerequisite skips on a laptop and fails under CI."""

from __future__ import annotations

import pytest

from tests._support import unavailable


def test_unavailable_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"CI requires .* broker is down"):
        unavailable("the broker is down")


def test_unavailable_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="the broker is down"):
        unavailable("the broker is down")
