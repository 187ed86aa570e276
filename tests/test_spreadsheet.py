"""CSV text cells that no spreadsheet program runs as a formula."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sealmeter.spreadsheet import FORMULA_STARTS, safe_cell


@given(st.text(max_size=40))
def test_a_cell_never_starts_a_formula_and_keeps_its_text(text: str) -> None:
    cell = safe_cell(text)
    assert not cell.startswith(FORMULA_STARTS)
    if text.startswith(FORMULA_STARTS):
        assert cell == "'" + text
    else:
        assert cell == text


def test_the_formula_starts_are_the_known_ones() -> None:
    assert safe_cell('=HYPERLINK("http://x","y")') == '\'=HYPERLINK("http://x","y")'
    assert safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert safe_cell("cust-7") == "cust-7"
