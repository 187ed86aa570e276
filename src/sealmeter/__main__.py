"""Allow `python -m sealmeter`."""

from sealmeter.cli import main

main()
