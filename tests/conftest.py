"""Test fixtures: a private LAKEHOUSE_HOME, a January–March slice of the real data, one real SparkSession.

dbt runs in this process (dbtRunner) and its session target picks up the very SparkSession the tests use: an
embedded Derby metastore admits one JVM, and one JVM start is much faster than one per dbt call.
"""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lakehouse import dataset
from lakehouse.jars import delta_jar_present, jar_dir
from lakehouse.paths import PROJECT_ROOT, STATE_HOME_VARIABLE

SLICE_MONTHS = {"1", "2", "3"}


def _ensure_jars() -> Path:
    """The user's fetched jars, fetched in a child process so this one's JVM starts with Delta on its class path."""
    if not delta_jar_present():
        subprocess.run([sys.executable, "-m", "lakehouse.jars"], check=True)
    return jar_dir()


def _write_slice(table: str, target: Path) -> None:
    with dataset.source_file(table).open(newline="") as source, target.open("w", newline="") as sliced:
        rows = csv.reader(source)
        writer = csv.writer(sliced, lineterminator="\n")
        header = next(rows)
        writer.writerow(header)
        month = header.index("month")
        writer.writerows(row for row in rows if row[month] in SLICE_MONTHS)


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
        _write_slice(table, directory / f"{table}.csv")
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
        result = dbtRunner().invoke(
            [
                *args,
                "--project-dir",
                str(PROJECT_ROOT),
                "--profiles-dir",
                str(PROJECT_ROOT),
                "--target-path",
                str(artifacts / "target"),
                "--log-path",
                str(artifacts / "logs"),
            ]
        )
        assert result.success, f"dbt {' '.join(args)} failed: {result.exception or result.result}"
        return result

    return run


@pytest.fixture(scope="session")
def built(spark, dbt, slice_dir):
    """The slice loaded into bronze and `dbt build` run once over it."""
    from lakehouse.ingest import ingest

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
