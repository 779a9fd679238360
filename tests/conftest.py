"""Test fixtures: a private LAKEHOUSE_HOME, a January–March slice of the real data, one real SparkSession.

dbt runs in this process (dbtRunner) and its session target picks up the very SparkSession the tests use: an
embedded Derby metastore admits one JVM, and one JVM start is much faster than one per dbt call.
"""

import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from _pytest.nodeid import NodeId

from lakehouse.ingest import dataset
from lakehouse.jars import write_class_archive
from lakehouse.ml.features import features_table
from lakehouse.paths import PROJECT_ROOT, STATE_HOME_VARIABLE, delta_jar_present, jar_dir
from lakehouse.servers.daemons import free_port

SLICE_MONTHS = {1, 2, 3}
JAVA_OPTIONS_VARIABLE = "LAKEHOUSE_JAVA_OPTIONS"
SERIAL_GC = "-XX:+UseSerialGC"
# ml/train.py on the slice: train January, tune February, test March, a one-point grid.
SLICE_SPLIT = ["--validation-from", "2013-02-01", "--test-from", "2013-03-01", "--quick"]
# The model the tests train (the `trained` fixture, and the cluster test's two runs): XGBoost, what the service's
# tests need and the estimator a cluster runs differently (xgboost.spark's barrier stage on the executors).
# Choosing between the estimators is proven where the default grid runs: the model benchmark's own tool.
TRAINED_ARGS = [*SLICE_SPLIT, "--estimator", "XGBoost"]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Two groups, one per pytest-xdist worker (`--dist loadgroup`), a file never split between them: the files
    that use this process's Spark session (and its one build of the slice), and the files whose tests drive
    servers and child processes in a copy of the project (and its one build of the slice)."""
    in_process = {item.path for item in items if "spark" in item.fixturenames}
    for item in items:
        group = "spark_session" if item.path in in_process else "child_processes"
        item.add_marker(pytest.mark.xdist_group(group))
        if getattr(config.option, "loadgroup", False):  # set in each xdist worker under --dist loadgroup
            # What pytest-xdist 3.8 does for the marker, on pytest 9's node ids: it still sets Item._nodeid,
            # which pytest 9.2 no longer reads, so every test would be scheduled alone and each worker would
            # build the slice (and stream it, and copy the project) for itself.
            item._id = NodeId.parse(f"{item.nodeid}@{group}")


def _ensure_jars() -> Path:
    """The user's fetched jars, fetched in a child process so this one's JVM starts with Delta on its class path,
    and the class archive (a no-op when it is newer than every jar)."""
    if not delta_jar_present():
        subprocess.run([sys.executable, "-m", "lakehouse.jars"], check=True)
    write_class_archive()
    return jar_dir()


@pytest.fixture(scope="session")
def lakehouse_home(tmp_path_factory) -> Path:
    jars = _ensure_jars()
    home = tmp_path_factory.mktemp("lakehouse_home")
    (home / "jars").symlink_to(jars, target_is_directory=True)
    os.environ[STATE_HOME_VARIABLE] = str(home)
    # The suite's child JVMs start and warm up on the JIT's first tier, cheaper for short runs on a slice
    # (profiles.yml: January's full refresh, 30-40% less CPU), and collect garbage on one thread (G1's concurrent
    # work costs CPU that the suite's two workers already share). Not this process's own long-lived JVM (see
    # `spark`), nor the copy of the project at the default settings.
    os.environ[JAVA_OPTIONS_VARIABLE] = f"-XX:TieredStopAtLevel=1 {SERIAL_GC}"
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

    # This JVM runs every in-process build and training for half an hour, where the second tier pays: on the first
    # alone, test_dbt_build.py alone took 344 s instead of 441, but the whole suite 1,990 s instead of 1,811
    # (test_dbt_build.py 473 s instead of 354, test_ingest.py 253 instead of 144, test_ml.py 692 instead of 594).
    # It keeps both tiers and collects garbage on one thread, as the child JVMs do (with the child JVMs' change:
    # the suite 1,548 s instead of 1,805, this worker's files 1,545 s instead of 1,806).
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv(JAVA_OPTIONS_VARIABLE, SERIAL_GC)
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


def load_script(name: str):
    """One of ml/'s scripts as a module, so a test calls its main() in this process, on this Spark session."""
    spec = importlib.util.spec_from_file_location(f"ml_{name}", PROJECT_ROOT / "ml" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def trained(built) -> dict:
    """The one model every test that needs a trained one shares: `ml/train.py` on the slice, with TRAINED_ARGS."""
    return load_script("train").main(TRAINED_ARGS)


def lakehouse_command(*args: str, home: Path) -> subprocess.CompletedProcess:
    """A `python -m lakehouse.<module>` child process, as a user would run it, against the test home."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        env={**os.environ, STATE_HOME_VARIABLE: str(home)},
        capture_output=True,
        text=True,
        timeout=600,
    )


@dataclass(frozen=True)
class Project:
    """A throwaway copy of the project, run as its README says: from its root, with no LAKEHOUSE_HOME set, so
    its state is the default `.lakehouse` inside it. Only loopback ports are chosen free, and PYTHONPATH points
    at the copy so that `lakehouse`, `ml/` and dbt's plugin run the copy's code on the copy's state."""

    root: Path
    env: dict[str, str]

    @property
    def home(self) -> Path:
        return self.root / ".lakehouse"

    def run(self, *command: str, env: dict[str, str] | None = None, timeout: float = 900):
        return subprocess.run(
            list(command),
            env={**self.env, **(env or {})},
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def popen(self, *command: str) -> subprocess.Popen:
        return subprocess.Popen(
            list(command), env=self.env, cwd=self.root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )


def copy_project(destination: Path) -> Path:
    """The project's files as a clone has them (tracked, or new and not ignored), none of its state."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
    )
    for name in filter(None, listed.stdout.decode().split("\0")):
        if (PROJECT_ROOT / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_ROOT / name, destination / name)
    return destination


@pytest.fixture(scope="session")
def default_project(lakehouse_home, slice_dir, tmp_path_factory) -> Project:
    """A copy of the project with the slice loaded by `lakehouse ingest` and built by `dbt build`, at the defaults:
    the embedded session's flight_features, which the other targets must equal."""
    root = copy_project(tmp_path_factory.mktemp("project"))
    (root / ".lakehouse").mkdir()
    (root / ".lakehouse" / "jars").symlink_to((lakehouse_home / "jars").resolve(), target_is_directory=True)
    unset = {STATE_HOME_VARIABLE, JAVA_OPTIONS_VARIABLE, "DBT_TARGET", "PYTHONPATH"}
    env = {
        **{name: value for name, value in os.environ.items() if name not in unset},
        "PYTHONPATH": str(root),
        "LAKEHOUSE_THRIFT_PORT": str(free_port()),
        "LAKEHOUSE_CONNECT_PORT": str(free_port()),
        "LAKEHOUSE_CLUSTER_MASTER": f"spark://127.0.0.1:{free_port()}",
        "LAKEHOUSE_MASTER_WEBUI_PORT": str(free_port()),
        "LAKEHOUSE_WORKER_WEBUI_PORT": str(free_port()),
    }
    project = Project(root, env)
    loaded = project.run(venv_command("lakehouse"), "ingest", "--source-dir", str(slice_dir))
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    built = project.run(venv_command("dbt"), "build")
    assert built.returncode == 0, built.stdout[-3000:]
    assert "Completed successfully" in built.stdout
    return project


@pytest.fixture(scope="session")
def local_fingerprint(default_project) -> tuple[int, int]:
    """flight_features of the default (local session) target: the reference the other targets must match."""
    return features_fingerprint(default_project)


def features_fingerprint(project: Project, env: dict[str, str] | None = None) -> tuple[int, int]:
    """flight_features' row count and checksum, from `lakehouse summary --checksums` (on DBT_TARGET's target)."""
    summary = project.run(venv_command("lakehouse"), "summary", "--checksums", features_table(), env=env)
    assert summary.returncode == 0, summary.stderr[-3000:]
    row = next(line.split() for line in summary.stdout.splitlines() if line.startswith(features_table()))
    return int(row[2].replace(",", "")), int(row[4])


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
def running(server: str, project: Project, *start_args: str):
    """`lakehouse <server> start`, and always `stop`, even when the test fails."""
    try:
        started = project.run(venv_command("lakehouse"), server, "start", *start_args)
        assert started.returncode == 0, started.stderr + started.stdout
        yield
    finally:
        project.run(venv_command("lakehouse"), server, "stop")


# flight_features and everything upstream of it, without the tests: how the other targets prove they build the same.
MODELS_AND_SEEDS = ["--select", "+flight_features", "--resource-type", "seed", "--resource-type", "model"]
