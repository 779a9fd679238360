"""`python -m lakehouse.ingest`: the same as `lakehouse ingest`."""

from lakehouse.entry import run
from lakehouse.ingest.loader import main

run(main)
