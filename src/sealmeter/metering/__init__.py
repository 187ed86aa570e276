"""Metering: sampled u(t), i(t) to active energy, and energy to counter units.

The pure, fast measurement core of the security module (seed 000, Fig. 6): synthetic and
recorded signal sources, a transducer/ADC model with multiplexer skew and its correction, a
streaming integrator that sums u * i per half-period exactly (any chunking gives the same
result), the seed's rectified variant for comparison, an exact energy-to-units converter that
carries the remainder, a maximum-demand register, and a fast path giving 15-minute interval
energy for fleets from standard load profiles. No I/O except reading sample files; pandas and
demandlib are imported only when a standard profile is first asked for.

Typical use by a meter::

    chain = MeasurementChain(Adc.multiplexed(AdcChannel(400.0), AdcChannel(20.0), 4000))
    units = UnitConverter(wh_per_unit=1, record=counter.record)
    chain.feed_codes(codes)              # each chunk as it arrives
    reading = chain.take()               # at the end of an interval
    units.add(reading.active_import_wh)  # exact Fraction; whole units go to counter.record
"""

from sealmeter.metering._kernel import AVAILABLE as COMPILED_KERNEL
from sealmeter.metering._kernel import warm_up as warm_up_kernel
from sealmeter.metering.accuracy import AccuracyPoint, accuracy_table, iec_test_points
from sealmeter.metering.adc import SKEW_FRACTION_BITS, Adc, AdcChannel, Codes, SkewCorrector
from sealmeter.metering.chain import (
    RECORDING_BITS,
    MeasurementChain,
    measure_file,
    measure_samples,
    recording_adc,
)
from sealmeter.metering.errors import ClippingError, MeteringError, SampleFileError, SignalError
from sealmeter.metering.integrator import CODE_LIMIT, MAX_SEGMENT, EnergyIntegrator, Method
from sealmeter.metering.profiles import (
    PROFILE_KINDS,
    FleetVariation,
    fleet_interval_energy,
    interval_starts,
    iter_fleet_interval_energy,
    standard_profile,
)
from sealmeter.metering.reading import Reading
from sealmeter.metering.samples import Samples, iter_samples, load_samples
from sealmeter.metering.signals import Harmonic, Waveform
from sealmeter.metering.units import (
    DemandRegister,
    Energy,
    IntervalDemand,
    UnitConverter,
    exact_energy,
    units_per_interval,
)

__all__ = [
    "CODE_LIMIT",
    "COMPILED_KERNEL",
    "MAX_SEGMENT",
    "PROFILE_KINDS",
    "RECORDING_BITS",
    "SKEW_FRACTION_BITS",
    "AccuracyPoint",
    "Adc",
    "AdcChannel",
    "ClippingError",
    "Codes",
    "DemandRegister",
    "Energy",
    "EnergyIntegrator",
    "FleetVariation",
    "Harmonic",
    "IntervalDemand",
    "MeasurementChain",
    "MeteringError",
    "Method",
    "Reading",
    "SampleFileError",
    "Samples",
    "SignalError",
    "SkewCorrector",
    "UnitConverter",
    "Waveform",
    "accuracy_table",
    "exact_energy",
    "fleet_interval_energy",
    "iec_test_points",
    "interval_starts",
    "iter_fleet_interval_energy",
    "iter_samples",
    "load_samples",
    "measure_file",
    "measure_samples",
    "recording_adc",
    "standard_profile",
    "units_per_interval",
    "warm_up_kernel",
]
