"""Recorded samples: uniform u(t), i(t) in volts and amperes, read from CSV or NumPy files.

A capture from a meter's ADC or an oscilloscope is a table with columns `t,u,i` (seconds,
volts, amperes). CSV files need a header row naming those columns (any order, extra columns
ignored); `.npy` files hold either a structured array with fields `t`, `u`, `i` or a 2-D
array of shape (n, 3) in that column order. Samples must be finite, with time strictly
increasing at a constant step (each stamp within half a step of its nominal instant, as an
oscilloscope's rounded time stamps are). Files are read in chunks, so hours of samples fit
in bounded memory.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from sealmeter.metering.errors import SampleFileError, SignalError

__all__ = ["Samples", "iter_samples", "load_samples"]

_COLUMNS = ("t", "u", "i")


@dataclass(frozen=True)
class Samples:
    """A block of simultaneous samples: `u` volts and `i` amperes at `rate_hz`, from `t0` s."""

    u: NDArray[np.float64]
    i: NDArray[np.float64]
    rate_hz: float
    t0: float = 0.0

    def __post_init__(self) -> None:
        """Check that both channels are 1-D, of equal length, at a positive finite rate."""
        if self.u.ndim != 1 or self.u.shape != self.i.shape:
            raise SignalError(
                f"voltage and current must be 1-D arrays of equal length, got shapes "
                f"{self.u.shape} and {self.i.shape}"
            )
        if not (self.rate_hz > 0 and math.isfinite(self.rate_hz)):
            raise SignalError(f"rate_hz must be positive and finite, got {self.rate_hz}")

    def __len__(self) -> int:
        """Number of sample pairs."""
        return int(self.u.shape[0])

    @property
    def duration_s(self) -> float:
        """Time covered by the samples (number of samples times the sample period), seconds."""
        return len(self) / self.rate_hz


def load_samples(path: str | Path) -> Samples:
    """Read a whole sample file (`.csv` or `.npy`) into one `Samples` block.

    Raises `SampleFileError` for a missing file, missing columns, non-numeric or non-finite
    values, or time that is not strictly increasing at a constant step.
    """
    parts = list(iter_samples(path))
    return Samples(
        u=np.concatenate([p.u for p in parts]),
        i=np.concatenate([p.i for p in parts]),
        rate_hz=parts[0].rate_hz,
        t0=parts[0].t0,
    )


def iter_samples(path: str | Path, chunk_rows: int = 1 << 18) -> Iterator[Samples]:
    """Yield a sample file as consecutive `Samples` chunks of at most `chunk_rows` rows.

    Memory stays bounded by the chunk size (NumPy files are memory-mapped). The whole file is
    validated as it streams: a fault in a later chunk raises `SampleFileError` when reached.
    """
    if chunk_rows < 2:
        raise SampleFileError(f"chunk_rows must be at least 2, got {chunk_rows}")
    p = Path(path)
    if not p.is_file():
        raise SampleFileError(f"sample file {p} does not exist; pass a .csv or .npy capture")
    suffix = p.suffix.lower()
    if suffix == ".npy":
        blocks = _npy_blocks(p, chunk_rows)
    elif suffix in (".csv", ".txt"):
        blocks = _csv_blocks(p, chunk_rows)
    else:
        raise SampleFileError(
            f"sample file {p} has suffix {suffix!r}; use .csv (columns t,u,i) or .npy"
        )
    yield from _validated(p, blocks)


def _validated(p: Path, blocks: Iterator[tuple[int, NDArray[np.float64]]]) -> Iterator[Samples]:
    """Check finiteness and a constant time step across blocks; yield `Samples`.

    The step is taken from the span of the first block, so time stamps printed with few
    digits still give the exact rate; every later time stamp must lie within half a step of
    `t0 + k * step`, which catches gaps, duplicated rows and a wrong rate.
    """
    step = 0.0
    t0 = 0.0
    last_t: float | None = None
    seen = 0
    for first_row, block in _at_least_two_rows(p, blocks):
        bad = ~np.isfinite(block)
        if bad.any():
            row, col = (int(x) for x in np.argwhere(bad)[0])
            raise SampleFileError(
                f"{p}: row {first_row + row + 1} column {_COLUMNS[col]!r} is not a finite "
                f"number ({block[row, col]!r}); remove or repair that sample"
            )
        t = block[:, 0]
        prev = t[:-1] if last_t is None else np.concatenate([[last_t], t[:-1]])
        cur = t[1:] if last_t is None else t
        base = first_row + 1 if last_t is None else first_row
        down = np.flatnonzero(cur - prev <= 0)
        if down.size:
            k = int(down[0])
            _not_increasing(p, base + k, float(prev[k]), float(cur[k]))
        if last_t is None:
            t0 = float(t[0])
            step = (float(t[-1]) - t0) / (t.size - 1)
        expected = t0 + (seen + np.arange(t.size)) * step
        off = np.flatnonzero(np.abs(t - expected) > 0.5 * step)
        if off.size:
            k = int(off[0])
            raise SampleFileError(
                f"{p}: row {first_row + k + 1} is at t={t[k]:.9g} s, but a constant step of "
                f"{step:.9g} s puts it at {expected[k]:.9g} s; samples must be uniform "
                "(resample the capture, or split it at the gap)"
            )
        last_t = float(t[-1])
        yield Samples(
            u=np.ascontiguousarray(block[:, 1]),
            i=np.ascontiguousarray(block[:, 2]),
            rate_hz=1.0 / step,
            t0=float(t[0]),
        )
        seen += t.size


def _at_least_two_rows(
    p: Path, blocks: Iterator[tuple[int, NDArray[np.float64]]]
) -> Iterator[tuple[int, NDArray[np.float64]]]:
    """Merge leading blocks until the first has two rows; reject files with fewer than two."""
    pending: list[tuple[int, NDArray[np.float64]]] = []
    started = False
    for first_row, block in blocks:
        if block.shape[0] == 0:
            continue
        if not started:
            pending.append((first_row, block))
            if sum(b.shape[0] for _, b in pending) < 2:
                continue
            first_row, block = pending[0][0], np.concatenate([b for _, b in pending])
            started = True
        yield first_row, block
    if not started:
        rows = sum(b.shape[0] for _, b in pending)
        raise SampleFileError(
            f"{p}: holds {rows} sample row(s); at least 2 are needed to know the sample rate"
        )


def _not_increasing(p: Path, row: int, before: float, after: float) -> None:
    raise SampleFileError(
        f"{p}: time is not strictly increasing at row {row + 1} ({before!r} s then "
        f"{after!r} s); sort the capture by time and drop duplicate rows"
    )


def _npy_blocks(p: Path, chunk_rows: int) -> Iterator[tuple[int, NDArray[np.float64]]]:
    """Yield (first row, float64 (n, 3) block) from a memory-mapped `.npy` file."""
    try:
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise SampleFileError(f"{p}: not a readable NumPy .npy file ({exc})") from exc
    names = arr.dtype.names
    if names is not None:
        missing = [c for c in _COLUMNS if c not in names]
        if missing:
            raise SampleFileError(
                f"{p}: structured array lacks field(s) {missing}; it needs fields t, u, i"
            )
        if arr.ndim != 1:
            raise SampleFileError(f"{p}: structured array must be 1-D, has shape {arr.shape}")
        n = arr.shape[0]
        for start in range(0, n, chunk_rows):
            part = arr[start : start + chunk_rows]
            yield start, _as_float_block(p, [part[c] for c in _COLUMNS])
        return
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise SampleFileError(
            f"{p}: array has shape {arr.shape}; it needs shape (n, 3) with columns t, u, i "
            "or a structured array with fields t, u, i"
        )
    for start in range(0, arr.shape[0], chunk_rows):
        part = arr[start : start + chunk_rows]
        yield start, _as_float_block(p, [part[:, k] for k in range(3)])


def _as_float_block(p: Path, cols: list[NDArray[np.generic]]) -> NDArray[np.float64]:
    try:
        return np.stack([np.asarray(c, dtype=np.float64) for c in cols], axis=1)
    except (TypeError, ValueError) as exc:
        raise SampleFileError(f"{p}: columns t, u, i must be numeric ({exc})") from exc


def _csv_blocks(p: Path, chunk_rows: int) -> Iterator[tuple[int, NDArray[np.float64]]]:
    """Yield (first data row, float64 (n, 3) block) from a CSV file with a t,u,i header."""
    try:
        fh = p.open("r", encoding="utf-8", newline="")
    except OSError as exc:
        raise SampleFileError(f"{p}: cannot open ({exc})") from exc
    with fh:
        try:
            header_line = fh.readline()
            header = [h.strip().lower() for h in next(csv.reader([header_line]), [])]
            missing = [c for c in _COLUMNS if c not in header]
            if missing:
                raise SampleFileError(
                    f"{p}: header {header_line.strip()!r} lacks column(s) {missing}; the first "
                    "line must name the columns t,u,i (seconds, volts, amperes)"
                )
            cols = [header.index(c) for c in _COLUMNS]
            row = 1
            while True:
                lines = list(itertools.islice(fh, chunk_rows))
                if not lines:
                    return
                yield row, _parse_csv_lines(p, lines, row, cols, len(header))
                row += len(lines)
        except UnicodeDecodeError as exc:
            raise SampleFileError(
                f"{p}: is not UTF-8 text ({exc}); export the capture as CSV"
            ) from exc
        except csv.Error as exc:
            raise SampleFileError(f"{p}: is not valid CSV ({exc})") from exc


def _parse_csv_lines(
    p: Path, lines: list[str], first_row: int, cols: list[int], width: int
) -> NDArray[np.float64]:
    """Parse CSV lines fast with NumPy; on failure find the offending line for the message."""
    try:
        data = np.loadtxt(
            io.StringIO("".join(lines)),
            delimiter=",",
            dtype=np.float64,
            usecols=cols,
            ndmin=2,
        )
    except ValueError:
        for k, line in enumerate(lines):
            fields = next(csv.reader([line]), [])
            if len(fields) != width:
                raise SampleFileError(
                    f"{p}: row {first_row + k + 1} has {len(fields)} field(s), the header "
                    f"has {width}; fix or drop that row"
                ) from None
            for name, c in zip(_COLUMNS, cols, strict=True):
                try:
                    float(fields[c])
                except ValueError:
                    raise SampleFileError(
                        f"{p}: row {first_row + k + 1} column {name!r} is not a number "
                        f"({fields[c]!r}); fix or drop that row"
                    ) from None
        raise SampleFileError(f"{p}: rows {first_row + 1}.. cannot be parsed as numbers") from None
    if data.shape[0] != len(lines):
        raise SampleFileError(f"{p}: blank or malformed lines near row {first_row + 1}")
    return data
