"""Text cells for CSV files that people open in spreadsheet programs.

A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is taken as a formula by
Excel, LibreOffice and Google Sheets ("CSV injection"): a customer reference such as
`=HYPERLINK(...)` would run when an operator opens a bill export. `safe_cell` prefixes such
text with an apostrophe, which the programs show as plain text; numbers are not text cells
and are written as they are.
"""

from __future__ import annotations

__all__ = ["FORMULA_STARTS", "safe_cell"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet program read a cell as a formula."""


def safe_cell(text: str) -> str:
    """`text` as a CSV cell no spreadsheet program runs as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text
