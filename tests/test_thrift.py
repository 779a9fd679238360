"""The `thrift` target: Spark's own Thrift server, started by `lakehouse thrift`, builds the same tables.

The server runs in a throwaway copy of the project at the default settings, with the slice loaded and built by
the local target (see `default_project`), on a free port.
"""

import os
import signal
import time
from contextlib import closing

import pytest
from pyhive import hive

from lakehouse.ml.features import features_table
from lakehouse.servers.daemons import THRIFT, exposure_warning
from lakehouse.summary import LAYERS, fingerprint_query
from tests.conftest import running, venv_command

DBT = venv_command("dbt")
LAKEHOUSE = venv_command("lakehouse")

TABLES_BUILT = ["staging", "intermediate", "features"]


def query(project, sql: str) -> list[tuple]:
    with closing(hive.connect(host="127.0.0.1", port=int(project.env["LAKEHOUSE_THRIFT_PORT"]))) as connection:
        cursor = connection.cursor()
        cursor.execute(sql)
        return cursor.fetchall()


def delta_tables(project) -> list[str]:
    """The tables that hold data: `show views` lists the views and temporary views, which do not."""
    schemas = {row[0] for row in query(project, "show schemas")}
    tables = []
    for schema in [layer for layer in LAYERS if layer in schemas]:
        views = {row[1] for row in query(project, f"show views in {schema}")}
        tables += [f"{schema}.{row[1]}" for row in query(project, f"show tables in {schema}") if row[1] not in views]
    return tables


def history(project, table: str) -> list[int]:
    return sorted(row[0] for row in query(project, f"describe history {table}"))


def operations(project, table: str) -> list[str]:
    """What each commit did, oldest first (`describe history` has version first and operation fifth)."""
    return [row[4] for row in sorted(query(project, f"describe history {table}"))]


@pytest.fixture(scope="module")
def thrift(default_project, local_fingerprint):
    """The server, started once the local reference is taken: it takes the metastore from every local session."""
    with running("thrift", default_project):
        yield default_project


def test_a_session_run_while_the_server_holds_the_metastore_gets_one_line(thrift):
    dbt = thrift.run(DBT, "build", "--target", "local")
    assert dbt.returncode != 0
    assert "the Thrift server is running and holds the metastore: use --target thrift" in dbt.stdout
    assert "derby" not in dbt.stdout.lower() and "Traceback" not in dbt.stdout + dbt.stderr

    summary = thrift.run(LAKEHOUSE, "summary")
    assert summary.returncode == 1
    assert summary.stderr.strip().splitlines() == [
        "error: the Thrift server is running and holds the metastore: use --target thrift, "
        "or stop it with `lakehouse thrift stop`"
    ]


def test_starting_twice_or_on_a_taken_port_is_refused_clearly(thrift):
    again = thrift.run(LAKEHOUSE, "thrift", "start")
    assert again.returncode == 0 and "already running" in again.stdout
    connect = thrift.run(
        LAKEHOUSE, "connect", "start", env={"LAKEHOUSE_CONNECT_PORT": thrift.env["LAKEHOUSE_THRIFT_PORT"]}
    )
    assert connect.returncode == 1
    assert connect.stderr.strip() == (
        f"error: port 127.0.0.1:{thrift.env['LAKEHOUSE_THRIFT_PORT']} is in use: stop what holds it, "
        "or set LAKEHOUSE_CONNECT_PORT to a free port"
    )


def test_only_a_server_bound_off_loopback_is_warned_about():
    for host in ["127.0.0.1", "127.0.1.1", "localhost", "::1"]:
        assert exposure_warning(THRIFT.title, host, 10000, THRIFT.exposes) is None, host
    for host in ["0.0.0.0", "192.168.1.20", "flights.example.com"]:
        assert exposure_warning(THRIFT.title, host, 10000, THRIFT.exposes) == (
            f"warning: binding {host}: the Thrift server has no authentication; "
            f"anyone who reaches {host}:10000 can run SQL as you"
        )


def test_concurrent_builds_of_one_table_never_corrupt_it(thrift, tmp_path):
    model = "stg_nycflights__weather"
    expected_rows = query(thrift, f"select count(*) from staging.{model}")[0][0]
    before = operations(thrift, f"staging.{model}")
    runs = [
        # --full-refresh: both replace the table whole, the strongest overlap; a target folder each, as two users have
        thrift.popen(
            DBT,
            "run",
            "--target",
            "thrift",
            "--select",
            model,
            "--full-refresh",
            "--target-path",
            str(tmp_path / f"{copy}"),
        )
        for copy in range(2)
    ]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    succeeded = [run.returncode == 0 for run in runs]
    assert any(succeeded), outputs
    print(f"concurrent builds: {['committed' if ok else 'refused' for ok in succeeded]}")
    for ok, output in zip(succeeded, outputs, strict=True):
        if not ok:  # Delta's optimistic concurrency: the losing commit is refused, and says why
            assert "concurrent" in output.lower(), output[-3000:]
    after = history(thrift, f"staging.{model}")
    assert after == list(range(after[-1] + 1)), "a version is missing"
    # A committed build is its rows, then its fingerprint; a refused one adds at most its rows.
    added = operations(thrift, f"staging.{model}")[len(before) :]
    print(f"commits: {added}")
    assert set(added) <= {"CREATE OR REPLACE TABLE AS SELECT", "SET TBLPROPERTIES"}, added
    assert added.count("SET TBLPROPERTIES") == sum(succeeded), added
    assert added.count("CREATE OR REPLACE TABLE AS SELECT") >= sum(succeeded), added
    assert query(thrift, f"select count(*) from staging.{model}")[0][0] == expected_rows


def test_a_build_killed_with_the_server_leaves_every_table_whole_and_its_retry_builds_the_local_features(
    thrift, local_fingerprint
):
    """The whole project built over Thrift, in two parts: a `dbt build --full-refresh` that loses its server
    mid-way, and the `dbt retry` that finishes it; every node and test passes, and the features equal the local
    target's."""
    versions_before = {table: history(thrift, table)[-1] for table in delta_tables(thrift)}
    build = thrift.popen(DBT, "build", "--target", "thrift", "--full-refresh")
    interrupted = "intermediate.int_flights_prior_origin_departures"  # the range join: the longest write
    seen = ""
    while f"START sql table model {interrupted}" not in seen:
        line = build.stdout.readline()
        assert line, f"dbt ended before {interrupted}: {seen[-3000:]}"
        seen += line
    time.sleep(1)
    os.kill(int((thrift.home / "servers" / "thrift" / "pid").read_text()), signal.SIGKILL)
    seen += build.communicate(timeout=300)[0]
    assert build.returncode != 0
    assert " PASS " in seen and " FAIL " not in seen, seen[-3000:]

    restarted = thrift.run(LAKEHOUSE, "thrift", "start")
    assert restarted.returncode == 0, restarted.stderr
    for table, version_before in versions_before.items():
        versions = history(thrift, table)
        # Delta commits a write whole or not at all: no gap, readable, and at most the two commits a rebuild makes
        # (its rows, then the fingerprint in its table properties).
        assert versions == list(range(versions[-1] + 1)), f"{table}: history {versions}"
        assert versions[-1] - version_before in (0, 1, 2), f"{table}: {version_before} -> {versions[-1]}"
        query(thrift, f"select count(*) from {table}")
    if f"OK created sql table model {interrupted}" not in seen:
        if interrupted in versions_before:
            assert history(thrift, interrupted)[-1] == versions_before[interrupted], "a killed write is visible"
        else:  # this test alone: the kill hit the table's first write
            assert interrupted not in delta_tables(thrift), "a killed first write left a table behind"
    if interrupted in delta_tables(thrift):
        was = versions_before.get(interrupted)
        print(f"after SIGKILL: {interrupted} history {history(thrift, interrupted)} (was {was})")

    # `dbt retry` picks up where the killed build stopped: its failed node and everything it skipped.
    rerun = thrift.run(DBT, "retry", "--target", "thrift")
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert "ERROR=0" in rerun.stdout and " PASS " in rerun.stdout
    assert tuple(query(thrift, fingerprint_query(features_table()))[0]) == local_fingerprint
