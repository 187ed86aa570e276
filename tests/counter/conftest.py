"""Fixtures of the counter tests: small parts of both technologies and polarities."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sealmeter.nvm import Eeprom, NorFlash

Part = Eeprom | NorFlash
PartFactory = Callable[[], Part]

PARTS: dict[str, PartFactory] = {
    "eeprom-ff": lambda: Eeprom(512, log_limit=64),
    "eeprom-00": lambda: Eeprom(512, erased=0x00, log_limit=64),
    "flash-ff": lambda: NorFlash(2048, page_size=64, log_limit=64),
    "flash-00": lambda: NorFlash(2048, page_size=64, erased=0x00, log_limit=64),
}


@pytest.fixture(params=sorted(PARTS))
def make_part(request: pytest.FixtureRequest) -> PartFactory:
    """A factory of fresh small parts, once per technology and erased polarity."""
    factory: PartFactory = PARTS[request.param]
    return factory
