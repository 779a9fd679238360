"""The SparkSession factory: one Spark configuration, read from profiles.yml, for every entry point.

dbt's session target passes `server_side_parameters` to SparkSession.builder; this module reads the very same
block so that the loader, ml/ and the servers run with the same Delta catalog, warehouse and metastore.
"""

import errno
import fcntl
import os
import time
from pathlib import Path

import jinja2
import yaml
from pyspark.sql import SparkSession

from lakehouse.errors import LakehouseError, MetastoreLockedError
from lakehouse.jars import ensure_delta_jars
from lakehouse.paths import PROJECT_ROOT, STATE_HOME_VARIABLE, metastore_dir, state_home

PROFILES_FILE = PROJECT_ROOT / "profiles.yml"
PROFILE_NAME = "nycflights"


def _env_var(name: str, default: str | None = None) -> str:
    if name == STATE_HOME_VARIABLE:
        # dbt resolves a relative home against the project root it runs from; Python runs from anywhere.
        return str(state_home())
    if name in os.environ:
        return os.environ[name]
    if default is None:
        raise LakehouseError(f"profiles.yml needs the environment variable {name}: set it and run again")
    return default


def _profile() -> dict:
    with PROFILES_FILE.open() as profiles:
        return yaml.safe_load(profiles)[PROFILE_NAME]


def spark_conf(target: str | None = None) -> dict[str, str]:
    """The `server_side_parameters` of a profiles.yml target (default: the profile's default), rendered."""
    profile = _profile()
    target = target or os.environ.get("DBT_TARGET") or profile["target"]
    if target not in profile["outputs"]:
        raise LakehouseError(f"no target {target!r} in profiles.yml: use one of {sorted(profile['outputs'])}")
    templates = jinja2.Environment(undefined=jinja2.StrictUndefined)
    parameters = profile["outputs"][target].get("server_side_parameters", {})
    return {key: templates.from_string(str(value)).render(env_var=_env_var) for key, value in parameters.items()}


def _metastore_held_elsewhere(lock_file: Path) -> bool:
    with lock_file.open("a") as lock:
        try:
            fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EACCES, errno.EAGAIN):
                raise
            return True
        fcntl.lockf(lock, fcntl.LOCK_UN)
        return False


def ensure_metastore_free(grace_seconds: float = 10.0) -> None:
    """Fail with one line, not a Derby stack trace, when another JVM has the embedded metastore open.

    Derby holds a file lock on dbex.lck while a JVM has the database booted; asking for the same lock tells
    whether someone else holds it, without touching the database. A JVM that is just exiting (the one a
    finished `dbt build` leaves behind for a moment) gets a few seconds to let go.
    """
    lock_file = metastore_dir() / "dbex.lck"
    deadline = time.monotonic() + grace_seconds
    while lock_file.exists() and _metastore_held_elsewhere(lock_file):
        if time.monotonic() >= deadline:
            raise MetastoreLockedError(
                f"the metastore in {metastore_dir()} is in use by another Spark process "
                "(a dbt run, a Thrift server or a notebook): wait for it or stop it, then run again"
            )
        time.sleep(0.5)


def get_spark(app_name: str = "lakehouse", target: str | None = None) -> SparkSession:
    """A Hive-enabled SparkSession with Delta, configured exactly like dbt's session target."""
    if SparkSession.getActiveSession() is None:
        ensure_delta_jars()
        ensure_metastore_free()
    state_home().mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in spark_conf(target).items():
        builder = builder.config(key, value)
    return builder.appName(app_name).getOrCreate()
