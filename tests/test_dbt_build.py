"""`dbt build` on a January–March slice of the real data: every model a Delta table, rebuilt only when what it is
built from changed, the data tests and unit tests green, and month-by-month incremental runs equal to a full
refresh."""

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
from lakehouse.spark import delta_version
from lakehouse.summary import LAYERS, stored_tables

SLICE_MONTHS = ["2013-01", "2013-02", "2013-03"]
# The loaders' tables: dbt only creates them when missing (macros/bronze_tables.sql), and never rebuilds them.
BRONZE = {
    f"raw.{table}" for table in (*KINDS, *EVENT_TABLES.values(), QUARANTINE_TABLE, EVENT_QUARANTINE_TABLE, LOADS_TABLE)
}


def relations(spark):
    existing = {row[0] for row in spark.sql("show schemas").collect()}
    return [table for schema in LAYERS if schema in existing for table in stored_tables(spark, schema)]


def through(month):
    return json.dumps({"features_through_month": month})


def test_build_passes_every_node_without_warnings(built):
    outcomes = {(str(result.node.resource_type), str(result.status)) for result in built.result.results}
    # Exposures (the ml/ training and scoring steps) have nothing to run: dbt reports them as no-ops.
    assert {status for kind, status in outcomes if kind != "exposure"} <= {"success", "pass"}, outcomes
    assert {status for kind, status in outcomes if kind == "exposure"} <= {"no-op"}, outcomes
    assert {"model", "seed", "test", "unit_test", "exposure"} <= {kind for kind, _ in outcomes}


def test_every_table_is_delta_with_a_log_on_disk(spark, built):
    tables = relations(spark)
    assert {"staging.stg_nycflights__flights", "features.flight_features", "raw.flights", "raw.airports"} <= set(tables)
    for table in tables:
        detail = spark.sql(f"describe detail {table}").first()
        assert detail["format"] == "delta", table
        assert (Path(detail["location"].removeprefix("file:")) / "_delta_log").is_dir(), table


def test_flight_features_has_one_row_per_departed_flight(spark, built):
    query = "select count(*) from raw.flights where dep_time is not null and month in (1, 2, 3)"
    departed = spark.sql(query).first()[0]
    assert spark.table("features.flight_features").count() == departed


def test_a_build_reuses_what_did_not_change_and_rebuilds_what_did(spark, dbt, built, slice_dir):
    """Nothing changed: every table is reused as it is (macros/materializations/reuse_unchanged.sql), and the
    tests still run. One source reloaded: the tables built from it rebuild, through the views between, and
    the others stay. --full-refresh rebuilds everything."""
    tables = [table for table in relations(spark) if table not in BRONZE]
    # The monitoring models are empty before any scoring, but built from flight_features.
    monitoring = {
        f"monitoring.{name}"
        for name in ("model_daily_performance", "model_calibration_by_decile", "model_feature_drift")
    }
    first = {table: delta_version(spark, table) for table in tables}
    # The build after the first one may merge flight_features once, as its SQL gains the incremental filter; the rest
    # is reused, staging too, though its event tables were missing until the first build's on-run-start made them.
    dbt("build")
    before = {table: delta_version(spark, table) for table in tables}
    assert {table for table in tables if before[table] > first[table]} <= {"features.flight_features", *monitoring}
    again = dbt("build")
    assert {table: delta_version(spark, table) for table in tables} == before

    def tests_passed(run):
        return sum(
            str(result.node.resource_type) == "test" and str(result.status) == "pass" for result in run.result.results
        )

    assert tests_passed(again) == tests_passed(built) > 30

    ingest(spark, ["weather"], slice_dir)
    dbt("build")
    rebuilt = {table for table in tables if delta_version(spark, table) > before[table]}
    assert rebuilt == {"staging.stg_nycflights__weather", "features.flight_features", *monitoring}

    started = spark.sql("select current_timestamp()").first()[0]
    dbt("build", "--full-refresh")
    last_written = {table: spark.sql(f"describe history {table} limit 1").first()["timestamp"] for table in tables}
    assert all(written >= started for written in last_written.values()), (started, last_written)


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
