"""Atheris fuzz target: metering inputs (sample files as CSV/.npy bytes, raw codes in chunks).

Any input must give a reading or a typed `SealmeterError`; any other exception is a finding.
Chunked feeding must also give exactly the reading of one block, and the compiled (numba)
integrator exactly the reading of the NumPy one. The numba kernels themselves (and numba) are
not instrumented: atheris's bytecode hooks cannot be compiled.
Run: `.venv/bin/python fuzz/metering_inputs.py -atheris_runs=100000`.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from pathlib import Path

import atheris

# numba is imported before the hooks: atheris's bytecode hooks cannot be compiled by numba, and
# a numba imported under them had them in the templates it compiles (`int(float)` failed).
import numba  # noqa: F401 - imported for its side effect, before instrumentation

with atheris.instrument_imports(exclude=["numba", "llvmlite", "sealmeter.metering._kernel"]):
    import numpy as np

    from sealmeter.errors import SealmeterError
    from sealmeter.metering import EnergyIntegrator, Method, measure_file

WORKDIR = Path(tempfile.mkdtemp(prefix="metering-fuzz-"))


def _file(data: bytes, suffix: str) -> None:
    path = WORKDIR / f"capture{suffix}"
    path.write_bytes(data)
    with contextlib.suppress(SealmeterError):
        measure_file(path, chunk_rows=7)


def _codes(provider: atheris.FuzzedDataProvider) -> None:
    method = Method.RECTIFIED if provider.ConsumeBool() else Method.SIGNED
    hysteresis = float(provider.ConsumeIntInRange(0, 2000))
    cut = provider.ConsumeIntInRange(0, 64)
    raw = provider.ConsumeBytes(4096)
    codes = np.frombuffer(raw[: len(raw) // 4 * 4], dtype=np.int16).astype(np.float64)
    u, i = codes[0::2], codes[1::2]
    whole = EnergyIntegrator(4000.0, 0.01, 0.001, method, hysteresis)
    whole.feed(u, i)
    parts = EnergyIntegrator(4000.0, 0.01, 0.001, method, hysteresis)
    for start in range(0, u.size, cut + 1):
        parts.feed(u[start : start + cut + 1], i[start : start + cut + 1])
    if whole.total() != parts.total():
        raise AssertionError("chunked feeding changed the reading")
    plain = EnergyIntegrator(4000.0, 0.01, 0.001, method, hysteresis, use_kernel=False)
    plain.feed(u, i)
    if plain.total() != whole.total():
        raise AssertionError("the compiled and the NumPy integrator disagree")


def test_one_input(data: bytes) -> None:
    """Route `data` by its first byte to one of the metering's input doors."""
    if not data:
        return
    mode, rest = data[0] % 3, data[1:]
    if mode == 0:
        _file(b"t,u,i\n" + rest, ".csv")
    elif mode == 1:
        _file(rest, ".npy")
    else:
        _codes(atheris.FuzzedDataProvider(rest))


def main() -> None:
    """Run the fuzzer with libFuzzer's command-line options."""
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
