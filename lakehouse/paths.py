"""Where the project and its runtime state live.

Everything the project writes at run time (warehouse, metastore, Ivy cache, unpacked inputs, logs) goes under one
folder, LAKEHOUSE_HOME, which defaults to `.lakehouse` in the project root. A relative LAKEHOUSE_HOME is taken
relative to the project root, as dbt (which runs from the root) takes it.
"""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STATE_HOME_VARIABLE = "LAKEHOUSE_HOME"


def state_home() -> Path:
    configured = Path(os.environ.get(STATE_HOME_VARIABLE, ".lakehouse"))
    return configured if configured.is_absolute() else PROJECT_ROOT / configured


def landing_dir() -> Path:
    """Source files unpacked for Spark to read (Spark cannot read inside a .zip)."""
    return state_home() / "landing"


def metastore_dir() -> Path:
    return state_home() / "metastore_db"
