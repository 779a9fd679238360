"""`dbt build` on a January–March slice of the real data: every model a Delta table, the incremental models merging
only what arrived, the data tests and unit tests green on every build, and month-by-month incremental runs equal
to a full refresh."""

import json
import shutil
from pathlib import Path

from lakehouse.ingest.bronze_tables import (
    EVENT_QUARANTINE_TABLE,
    EVENT_TABLES,
    KINDS,
    LOADS_TABLE,
    QUARANTINE_TABLE,
)
from lakehouse.ingest.loader import ingest
from lakehouse.project import project_var
from lakehouse.spark import delta_version
from lakehouse.summary import every_table

SLICE_MONTHS = ["2013-01", "2013-02", "2013-03"]
# The loaders' tables: dbt only creates them when missing (macros/bronze_tables.sql), and never rebuilds them.
BRONZE = {
    f"raw.{table}" for table in (*KINDS, *EVENT_TABLES.values(), QUARANTINE_TABLE, EVENT_QUARANTINE_TABLE, LOADS_TABLE)
}


def through(month):
    return json.dumps({"features_through_month": month})


def test_build_passes_every_node_without_warnings(built):
    outcomes = {(str(result.node.resource_type), str(result.status)) for result in built.result.results}
    # Exposures (the ml/ training and scoring steps) have nothing to run: dbt reports them as no-ops.
    assert {status for kind, status in outcomes if kind != "exposure"} <= {"success", "pass"}, outcomes
    assert {status for kind, status in outcomes if kind == "exposure"} <= {"no-op"}, outcomes
    assert {"model", "seed", "test", "unit_test", "exposure"} <= {kind for kind, _ in outcomes}


def test_every_table_is_delta_with_a_log_on_disk(spark, built):
    tables = every_table(spark)
    assert {"staging.stg_nycflights__flights", "features.flight_features", "raw.flights", "raw.airports"} <= set(tables)
    for table in tables:
        detail = spark.sql(f"describe detail {table}").first()
        assert detail["format"] == "delta", table
        assert (Path(detail["location"].removeprefix("file:")) / "_delta_log").is_dir(), table


def test_flight_features_has_one_row_per_departed_flight(spark, built):
    query = "select count(*) from raw.flights where dep_time is not null and month in (1, 2, 3)"
    departed = spark.sql(query).first()[0]
    assert spark.table("features.flight_features").count() == departed


INCREMENTAL = ["staging.stg_nycflights__flights", "staging.stg_nycflights__weather", "features.flight_features"]


def commits_since(spark, table, version):
    history = spark.sql(f"describe history {table}").collect()
    return sorted((row for row in history if row["version"] > version), key=lambda row: row["version"])


def test_a_build_merges_only_what_arrived_and_takes_every_row_again_after_a_reload(spark, dbt, built, slice_dir):
    """Nothing new: each incremental model merges no row (macros/arrivals.sql), and every data test and unit test
    runs again, as dbt means by a build. One source reloaded (a CSV load replaces rows): the models that read it,
    through the staging table its rows changed, delete their rows and take every row again, in the same run,
    and come out as they were; the model that reads only the other source merges nothing."""

    def tests_run(run):
        return [
            (result.node.unique_id, str(result.status))
            for result in run.result.results
            if str(result.node.resource_type) in ("test", "unit_test")
        ]

    before = {table: delta_version(spark, table) for table in INCREMENTAL}
    features = spark.table("features.flight_features").localCheckpoint()
    again = dbt("build")
    assert sorted(tests_run(again)) == sorted(tests_run(built))
    assert len(tests_run(again)) > 30 and {status for _, status in tests_run(again)} == {"pass"}
    for table in INCREMENTAL:
        operations = [row["operation"] for row in commits_since(spark, table, before[table])]
        assert "DELETE" not in operations and "CREATE OR REPLACE TABLE AS SELECT" not in operations, table
        for row in commits_since(spark, table, before[table]):
            if row["operation"] == "MERGE":
                metrics = row["operationMetrics"]
                assert (metrics["numTargetRowsInserted"], metrics["numTargetRowsUpdated"]) == ("0", "0"), table

    before = {table: delta_version(spark, table) for table in INCREMENTAL}
    ingest(spark, ["weather"], slice_dir)
    dbt("run", "--select", "+flight_features")  # the models alone: the tests' runs are the first half's claim
    for table in INCREMENTAL:
        operations = [row["operation"] for row in commits_since(spark, table, before[table])]
        took_every_row = "DELETE" in operations and "MERGE" in operations
        assert took_every_row == (table != "staging.stg_nycflights__flights"), (table, operations)
    rebuilt = spark.table("features.flight_features")
    assert rebuilt.count() == features.count()
    assert rebuilt.exceptAll(features).count() == 0 and features.exceptAll(rebuilt).count() == 0


def test_month_by_month_incremental_equals_a_full_refresh(spark, dbt, built):
    dbt("run", "--select", "flight_features", "--full-refresh")
    full_version = delta_version(spark, "features.flight_features")

    first, *later = SLICE_MONTHS
    dbt("run", "--select", "flight_features", "--full-refresh", "--vars", through(first))
    for month in later:
        dbt("run", "--select", "flight_features", "--vars", through(month))
    dbt("test", "--select", "flight_features", "--vars", through(SLICE_MONTHS[-1]))

    full = f"features.flight_features version as of {full_version}"
    incremental = "features.flight_features"
    assert spark.table(incremental).count() == spark.sql(f"select count(*) from {full}").first()[0]
    for left, right in [(full, incremental), (incremental, full)]:
        assert spark.sql(f"select * from {left} except all select * from {right}").count() == 0


def test_a_build_at_another_lead_takes_every_flight_at_it_and_the_way_back_gives_the_same_rows(spark, dbt, built):
    """The features and everything they read rebuilt at a lead of 0: an incremental build finds the flights built
    at the project's lead and takes every one of them again; built back at the project's lead, the table holds
    exactly its rows before."""
    lead = int(project_var("prediction_lead_minutes"))
    assert lead != 0
    before = delta_version(spark, "features.flight_features")
    as_built = "timestampdiff(MINUTE, features_as_of_at, scheduled_departure_at)"
    dbt("run", "--select", "+flight_features", "--vars", "{prediction_lead_minutes: 0}")
    leads = spark.sql(f"select {as_built} as lead, count(*) as flights from features.flight_features group by 1")
    assert [tuple(row) for row in leads.collect()] == [(0, spark.table("features.flight_features").count())]
    at_zero = "features.flight_features"
    at_lead = f"features.flight_features version as of {before}"
    assert spark.sql(f"select * from {at_zero} except all select * from {at_lead}").count() > 0

    dbt("run", "--select", "+flight_features")
    for left, right in [(at_zero, at_lead), (at_lead, at_zero)]:
        assert spark.sql(f"select * from {left} except all select * from {right}").count() == 0


def test_a_seed_replaces_its_rows_in_one_commit_and_takes_over_a_folder_a_killed_drop_left(spark, dbt, built):
    """A reader sees a seed's old rows or its new ones, never none (macros/seeds.sql); and a build killed inside
    dbt-spark's drop, which left the table's folder behind without its metastore entry, does not block the next."""
    seeded = spark.table("raw.airlines").count()
    dbt("seed", "--select", "airlines", "--full-refresh")
    history = spark.sql("describe history raw.airlines").collect()
    for version in [row["version"] for row in history if row["operation"] != "SET TBLPROPERTIES"]:
        assert spark.read.option("versionAsOf", version).table("raw.airlines").count() == seeded, version

    location = Path(spark.sql("describe detail raw.airlines").first()["location"].removeprefix("file:"))
    kept = location.with_name("airlines_kept")
    shutil.copytree(location, kept)
    spark.sql("drop table raw.airlines")  # what the metastore holds goes; the folder comes back as a kill left it
    kept.rename(location)
    dbt("seed", "--select", "airlines")
    assert spark.table("raw.airlines").count() == seeded
