"""``python -m pipeline.cli``: the same as ``oilake``."""

from pipeline.cli import main

main()
