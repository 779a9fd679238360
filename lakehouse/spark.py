"""The SparkSession factory: one Spark configuration, read from profiles.yml, for every entry point.

dbt's session target passes `server_side_parameters` to SparkSession.builder; this module reads the very same
block so that the loader, ml/ and the servers run with the same Delta catalog, warehouse and metastore.
"""

import errno
import fcntl
import json
import os
import shutil
import sys
import time
from pathlib import Path

import jinja2
import yaml
from pyspark.sql import SparkSession

from lakehouse.errors import LakehouseError, MetastoreLockedError
from lakehouse.locks import holder_of, note_holder
from lakehouse.paths import (
    PROJECT_ROOT,
    STATE_HOME_VARIABLE,
    ensure_delta_jars,
    metastore_dir,
    metastore_holder_file,
    metastore_user_file,
    state_home,
    usable_state_home,
)
from lakehouse.processes import alive

PROFILES_FILE = PROJECT_ROOT / "profiles.yml"
PROFILE_NAME = "nycflights"


def _env_var(name: str, default: str | None = None) -> str:
    if name == STATE_HOME_VARIABLE:
        # The one place a state path reaches Spark: absolute, since Spark's servers and a cluster's executors
        # each resolve a relative path against a working folder of their own (and find no jars there).
        return str(usable_state_home())
    if name in os.environ:
        return os.environ[name]
    if default is None:
        raise LakehouseError(f"profiles.yml needs the environment variable {name}: set it and run again")
    return default


def _profile() -> dict:
    with PROFILES_FILE.open() as profiles:
        return yaml.safe_load(profiles)[PROFILE_NAME]


def target_name(target: str | None = None) -> str:
    """The target asked for, else DBT_TARGET (which dbt reads too), else the profile's default."""
    return target or os.environ.get("DBT_TARGET") or _profile()["target"]


def _render(value, templates: jinja2.Environment):
    if isinstance(value, dict):
        return {key: _render(item, templates) for key, item in value.items()}
    if isinstance(value, str):
        return templates.from_string(value).render(env_var=_env_var)
    return value


def target_output(target: str | None = None) -> dict:
    """A profiles.yml target (default: see target_name), rendered as dbt renders it."""
    outputs = _profile()["outputs"]
    target = target_name(target)
    if target not in outputs:
        raise LakehouseError(f"no target {target!r} in profiles.yml: use one of {sorted(outputs)}")
    templates = jinja2.Environment(undefined=jinja2.StrictUndefined)
    templates.filters.update(as_number=lambda text: int(text), as_text=str, as_bool=lambda text: text == "True")
    return _render(outputs[target], templates)


def spark_conf(target: str | None = None) -> dict[str, str]:
    """The `server_side_parameters` of a session target, rendered: the Spark configuration it runs with."""
    output = target_output(target)
    if output["method"] != "session":
        raise LakehouseError(
            f"target {target_name(target)!r} is a {output['method']} connection, and this needs a Spark session: "
            "use --target local, cluster or connect (or DBT_TARGET)"
        )
    conf = {key: str(value) for key, value in output.get("server_side_parameters", {}).items()}
    if not is_remote(conf):
        # Python workers (xgboost.spark trains and predicts in them) run this process's interpreter, with the
        # project's packages, rather than whatever `python3` comes first on the PATH: a runtime fact, not a setting.
        # A JVM that spark-submit starts (the servers) reads the conf; one that PySpark starts, the variable.
        conf.setdefault("spark.pyspark.python", sys.executable)
        os.environ.setdefault("PYSPARK_PYTHON", conf["spark.pyspark.python"])
    return conf


def java_executable() -> str | None:
    """The java Spark starts: JAVA_HOME's, else the first on the PATH; None when there is none."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and Path(java_home, "bin", "java").exists():
        return str(Path(java_home, "bin", "java"))
    return shutil.which("java")


def is_remote(conf: dict[str, str]) -> bool:
    """Spark Connect: the server has the jars and the metastore, not this process."""
    return "spark.remote" in conf


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


def _server_holding_metastore() -> dict | None:
    """The server that said it holds the metastore (lakehouse/servers/daemons.py), if it is still alive."""
    try:
        holder = json.loads(metastore_holder_file().read_text())
    except (FileNotFoundError, ValueError):
        return None
    return holder if isinstance(holder.get("pid"), int) and alive(holder["pid"]) else None


def ensure_metastore_free(grace_seconds: float = 10.0) -> None:
    """Fail with one line, not a Derby stack trace, when another JVM has the embedded metastore open.

    Derby holds a file lock on dbex.lck while a JVM has the database booted; asking for the same lock tells
    whether someone else holds it, without touching the database. A JVM that is just exiting (the one a
    finished `dbt build` leaves behind for a moment) gets a few seconds to let go.
    """
    if (holder := _server_holding_metastore()) is not None:
        raise MetastoreLockedError(
            f"the {holder['title']} is running and holds the metastore: use --target {holder['target']}, "
            f"or stop it with `lakehouse {holder['name']} stop`"
        )
    lock_file = metastore_dir() / "dbex.lck"
    deadline = time.monotonic() + grace_seconds
    while lock_file.exists() and _metastore_held_elsewhere(lock_file):
        if time.monotonic() >= deadline:
            if holder := holder_of(metastore_user_file()):
                who, stop = holder[0], f"wait for it or stop it (kill -TERM {holder[1]})"
            else:
                who, stop = "another Spark process (a dbt run, a Thrift server or a notebook)", "wait for it or stop it"
            raise MetastoreLockedError(f"the metastore in {metastore_dir()} is in use by {who}: {stop}, then run again")
        time.sleep(0.5)
    note_holder(metastore_user_file())


def get_spark(app_name: str = "lakehouse", target: str | None = None, metastore: bool = True) -> SparkSession:
    """A Hive-enabled SparkSession with Delta, configured exactly like dbt's session target.

    metastore=False: the same session without the metastore, for a process that reads and writes Delta tables by
    path only and must run beside dbt (the embedded metastore admits one process): `lakehouse stream`.
    """
    conf = spark_conf(target)
    if not metastore:
        if is_remote(conf):
            raise LakehouseError("this runs Spark in its own process: use --target local or cluster (or DBT_TARGET)")
        conf["spark.sql.catalogImplementation"] = "in-memory"
    if not is_remote(conf):
        # A failed job is this process's error: the entry boundary prints one line and keeps the trace in its log,
        # where Spark would print each failed task's stack trace too. (The servers' logs keep profiles.yml's level.)
        conf["spark.log.level"] = "OFF"
    return start_session(conf, app_name, metastore)


def start_dbt_session(target: str | None = None) -> None:
    """Start, before dbt-spark connects, the session its `method: session` then finds: dbt renders profiles.yml
    with LAKEHOUSE_HOME as the user set it, possibly relative, and this is the same configuration with the state
    paths absolute. dbt-spark's builder.getOrCreate() takes over the running session and its configuration."""
    conf = spark_conf(target)
    start_session(conf, conf["spark.app.name"], metastore=True)


def start_session(conf: dict[str, str], app_name: str, metastore: bool) -> SparkSession:
    """A session with this configuration (spark_conf's, or one changed from it): the running one if there is one."""
    if SparkSession.getActiveSession() is None and not is_remote(conf):
        ensure_delta_jars()
        if metastore:
            ensure_metastore_free()
        # The address the driver binds, for Spark's own lookups too: unset, each JVM warns in two lines that this
        # machine's name resolves to a loopback address.
        if address := conf.get("spark.driver.bindAddress"):
            os.environ.setdefault("SPARK_LOCAL_IP", address)
    state_home().mkdir(parents=True, exist_ok=True)
    # A Connect server has its catalog from the start; asking again only makes the client warn.
    builder = SparkSession.builder if is_remote(conf) or not metastore else SparkSession.builder.enableHiveSupport()
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.appName(app_name).getOrCreate()


def warehouse_dir() -> Path:
    """Where the metastore keeps its schemas' folders (`<warehouse>/<schema>.db/<table>`), as profiles.yml says."""
    return Path(spark_conf("local")["spark.sql.warehouse.dir"])


def table_location(relation: str) -> Path:
    """Where a managed table of the warehouse (`schema.table`) keeps its files."""
    schema, name = relation.split(".")
    return warehouse_dir() / f"{schema}.db" / name


def delta_version(spark: SparkSession, table: str) -> int:
    """The table's current Delta version: the newest entry of its history."""
    return spark.sql(f"describe history {table} limit 1").first()["version"]
