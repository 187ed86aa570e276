"""sealmeter: the security module inside a usage meter and the head-end it reports to.

The lead seal on a meter is replaced with cryptography and careful storage. Pure cores
(`nvm`, `counter`, `metering`, `tariff`, `protocol`) are composed by `meter` and `headend`;
storage, transports and the doors (CLI, REST, dashboard) sit at the edge.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sealmeter")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
