"""Where the project and its runtime state live: every folder the project writes, named once, here.

Everything the project writes at run time (warehouse, metastore, Ivy cache, unpacked inputs, logs) goes under one
folder, LAKEHOUSE_HOME, which defaults to `.lakehouse` in the project root. A relative LAKEHOUSE_HOME is taken
relative to the project root, as dbt (which runs from the root) takes it, and `~` is the user's home. The
warehouse and the metastore's location are settings of profiles.yml (`server_side_parameters`), under the same
folder; lakehouse.spark hands them to Spark as the absolute paths state_home() gives.
"""

import os
import tempfile
from pathlib import Path

from lakehouse.errors import DeltaJarsMissingError, LakehouseError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STATE_HOME_VARIABLE = "LAKEHOUSE_HOME"


def state_home() -> Path:
    """LAKEHOUSE_HOME as an absolute path with no symlink in it: what every process, and every executor in its
    own working folder, resolves the same way."""
    configured = Path(os.environ.get(STATE_HOME_VARIABLE, ".lakehouse")).expanduser()
    return (PROJECT_ROOT / configured).resolve()


def usable_state_home() -> Path:
    """state_home(), created, or refused in one line when Spark could not work in it: checked before a JVM starts."""
    home = state_home()
    move = f"set {STATE_HOME_VARIABLE} to a folder you can write to"
    if any(character.isspace() for character in str(home)):
        # Spark splits its Java options, Derby's home among them, at white space.
        raise LakehouseError(
            f"the state folder {home} has a space in its path, which Spark cannot pass on: {move}, "
            "with no space in its path"
        )
    if home.exists() and not home.is_dir():
        raise LakehouseError(f"the state folder {home} is a file: {move}, or move the file away")
    try:
        home.mkdir(parents=True, exist_ok=True)
        # A probe of its own name: threads of one process (the stream's appends) check at the same moment.
        with tempfile.TemporaryFile(dir=home, prefix=".writable"):
            pass
    except OSError as error:
        raise LakehouseError(f"the state folder {home} cannot be written ({error.strerror}): {move}") from None
    return home


def landing_dir() -> Path:
    """Source files unpacked for Spark to read (Spark cannot read inside a .zip)."""
    return state_home() / "landing"


def events_landing_dir() -> Path:
    """The feed's landing folder: `lakehouse replay` writes event files here, `lakehouse stream` reads them."""
    return landing_dir() / "events"


def stream_dir() -> Path:
    """`lakehouse stream`'s checkpoint (what it has read and committed) and its per-batch metrics."""
    return state_home() / "stream"


def metastore_dir() -> Path:
    return state_home() / "metastore_db"


def metastore_user_file() -> Path:
    """Which process booted the metastore last: named to the next one, which Derby's lock turns away."""
    return state_home() / "metastore_user.json"


def jar_dir() -> Path:
    """The Delta jars and their dependencies, fetched once from Maven Central (`lakehouse jars`)."""
    return state_home() / "jars"


def delta_jar_present() -> bool:
    return any(jar_dir().glob("io.delta_delta-spark_*.jar"))


def ensure_delta_jars() -> None:
    if not delta_jar_present():
        raise DeltaJarsMissingError(f"Delta jars not found in {jar_dir()}: run `make jars` (or `lakehouse jars`)")


def ivy_dir() -> Path:
    return state_home() / "ivy"


def scratch_dir() -> Path:
    """Spark's local directories (shuffle and spill files), MLlib's checkpoints, and Dask's in the benchmark."""
    return state_home() / "tmp"


def servers_dir() -> Path:
    return state_home() / "servers"


def server_dir(name: str) -> Path:
    """A background server's pid file and log."""
    return servers_dir() / name


def metastore_holder_file() -> Path:
    """Which server holds the embedded metastore while it runs (its pid, name, title and dbt target)."""
    return servers_dir() / "metastore_holder.json"


def model_dir() -> Path:
    """The model store: one folder per trained model version."""
    return state_home() / "models"


def tracking_dir() -> Path:
    """MLflow's store: its database and the runs' artifacts."""
    return state_home() / "mlflow"


def bench_dir() -> Path:
    """The benchmark's inputs, outputs, logs and results, and the build profiles."""
    return state_home() / "bench"


def eventlog_dir() -> Path:
    """Spark's event logs of profiled builds."""
    return state_home() / "eventlog"


def reports_dir() -> Path:
    return state_home() / "reports"


def error_log() -> Path:
    """The whole trace of every unexpected failure, one line of which the user saw."""
    return state_home() / "logs" / "lakehouse.log"


def manifest_cache_dir() -> Path:
    """dbt's manifest as the Python side reads it, one folder per state of the project (lakehouse/project.py)."""
    return state_home() / "manifests"
