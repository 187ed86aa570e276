"""`Reading`: what a measurement over some span produced, exact where it matters."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

__all__ = ["Reading"]


@dataclass(frozen=True)
class Reading:
    """Energies and RMS values of one span of samples.

    Active energy is exact (`Fraction` watt-hours: integer code sums times the exact scale),
    so a stream of readings converts to units with nothing lost. Reactive energy is signed
    (inductive positive); apparent energy, reactive energy and RMS values are floats.
    """

    samples: int
    duration_s: float
    active_import_wh: Fraction
    active_export_wh: Fraction
    reactive_varh: float
    apparent_vah: float
    u_rms_v: float
    i_rms_a: float
    half_periods: int
    clipped: int = 0

    @property
    def active_wh(self) -> Fraction:
        """Net active energy: import minus export (Wh, exact)."""
        return self.active_import_wh - self.active_export_wh

    @property
    def active_energy_wh(self) -> float:
        """Net active energy as a float (Wh)."""
        return float(self.active_wh)

    @property
    def mean_power_w(self) -> float:
        """Mean net active power over the span (W); 0 for an empty span."""
        return self.active_energy_wh * 3600.0 / self.duration_s if self.duration_s else 0.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every figure (floats; exact values as strings too)."""
        return {
            "active_energy_wh": self.active_energy_wh,
            "active_import_wh": float(self.active_import_wh),
            "active_export_wh": float(self.active_export_wh),
            "active_energy_wh_exact": str(self.active_wh),
            "reactive_energy_varh": self.reactive_varh,
            "apparent_energy_vah": self.apparent_vah,
            "u_rms_v": self.u_rms_v,
            "i_rms_a": self.i_rms_a,
            "mean_power_w": self.mean_power_w,
            "samples": self.samples,
            "duration_s": self.duration_s,
            "half_periods": self.half_periods,
            "clipped_samples": self.clipped,
        }
