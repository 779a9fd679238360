"""`lakehouse scale` on the January–March slice: K=3 copies of bronze, each the year 52 weeks later, with keys of
its own, jittered delays, weather that still joins, a re-run that changes nothing, and Parquet files to export."""

import json

import pyarrow as pa
import pyarrow.dataset
import pytest
from pyspark.sql import functions as F

from lakehouse.ingest import ingest
from lakehouse.scale import COPY_SHIFT_DAYS, FLIGHT_NUMBER_STRIDE, JITTER_MINUTES, scale, scaled_schema

# Bronze of its own, so that this module neither needs nor disturbs the `raw` schema other tests build on.
RAW_SCHEMA = "raw_scale_test"
COPIES = 3
SCALED = scaled_schema(COPIES, RAW_SCHEMA)


@pytest.fixture(scope="module")
def scaled(spark, slice_dir, tmp_path_factory):
    ingest(spark, ["flights", "weather"], slice_dir, raw_schema=RAW_SCHEMA)
    export_dir = tmp_path_factory.mktemp("scaled_export")
    results = {result.table: result for result in scale(spark, COPIES, raw_schema=RAW_SCHEMA, export_dir=export_dir)}
    return results, export_dir


def rows(spark, table):
    return spark.table(table).count()


def test_scaled_flights_are_k_copies_of_bronze(spark, scaled):
    bronze = rows(spark, f"{RAW_SCHEMA}.flights")
    per_copy = spark.table(f"{SCALED}.flights").groupBy("_copy").count().collect()
    assert {row["_copy"]: row["count"] for row in per_copy} == {copy: bronze for copy in range(COPIES)}
    assert scaled[0][f"{SCALED}.flights"].rows == COPIES * bronze


def test_copy_zero_is_bronze_unchanged(spark, scaled):
    for table in ("flights", "weather"):
        bronze = spark.table(f"{RAW_SCHEMA}.{table}")
        copy_zero = spark.table(f"{SCALED}.{table}").where("_copy = 0").drop("_copy")
        assert copy_zero.exceptAll(bronze).count() == 0, table
        assert bronze.exceptAll(copy_zero).count() == 0, table


def test_each_copy_is_the_year_52_weeks_later_on_the_same_weekday_with_small_jitter(spark, scaled):
    scaled_flights = spark.table(f"{SCALED}.flights").withColumn("flight_date", F.make_date("year", "month", "day"))
    scaled_flights.createOrReplaceTempView("scaled")
    checks = spark.sql(f"""
        select
            count(*) as matched,
            count_if(dayofweek(copy.flight_date) != dayofweek(original.flight_date)) as weekday_changed,
            count_if(copy.time_hour != original.time_hour + make_dt_interval(copy._copy * {COPY_SHIFT_DAYS}))
                as hour_moved,
            count_if((copy.dep_time is null) != (original.dep_time is null)) as cancellation_changed,
            count_if(abs(copy.dep_delay - original.dep_delay) > {JITTER_MINUTES}) as jitter_too_large,
            count_if(copy.arr_delay - original.arr_delay != copy.dep_delay - original.dep_delay) as jitters_differ,
            count_if(copy.dep_delay != original.dep_delay) as jittered
        from scaled as copy
        inner join scaled as original
            on original._copy = 0
            and copy.carrier = original.carrier
            and copy.flight = original.flight + copy._copy * {FLIGHT_NUMBER_STRIDE}
            and copy.origin = original.origin
            and copy.sched_dep_time = original.sched_dep_time
            and copy.flight_date = date_add(original.flight_date, copy._copy * {COPY_SHIFT_DAYS})
        where copy._copy > 0
    """).first()  # fmt: skip
    bronze = rows(spark, f"{RAW_SCHEMA}.flights")
    assert checks["matched"] == (COPIES - 1) * bronze
    assert checks["weekday_changed"] == checks["cancellation_changed"] == 0
    assert checks["jitter_too_large"] == checks["jitters_differ"] == 0
    # Jan-Mar 2013 moved by 52 or 104 weeks keeps New York's clocks on the same side of each DST change.
    assert checks["hour_moved"] == 0
    assert checks["jittered"] > bronze  # most of the departed flights of copies 1 and 2


def test_staged_flight_keys_are_unique_and_keep_the_source_hour(spark, dbt, scaled):
    """dbt's own staging SQL, compiled for the scaled schema and run here, so no staging table is replaced."""
    compiled = dbt("compile", "--select", "stg_nycflights__flights", "--vars", json.dumps({"raw_schema": SCALED}))
    staged = spark.sql(compiled.result.results[0].node.compiled_code)
    summary = staged.selectExpr(
        "count(*) as staged",
        "count(distinct flight_id) as keys",
        "count_if(date_trunc('hour', scheduled_departure_at) != source_scheduled_hour_at) as off_the_hour",
    ).first()
    assert summary["staged"] == summary["keys"] == COPIES * rows(spark, f"{RAW_SCHEMA}.flights")
    assert summary["off_the_hour"] == 0


def test_weather_is_one_observation_per_hour_and_joins_every_copy_alike(spark, scaled):
    weather = spark.table(f"{SCALED}.weather")
    assert weather.count() == weather.select("origin", "time_hour").distinct().count()
    matched = spark.sql(f"""
        select flights._copy, count(weather.origin) as matched
        from {SCALED}.flights as flights
        left join {SCALED}.weather as weather
            on flights.origin = weather.origin and flights.time_hour = weather.time_hour
        group by flights._copy
    """).collect()  # fmt: skip
    assert len({row["matched"] for row in matched}) == 1, matched


def test_export_writes_every_row_as_parquet_with_utc_microseconds(spark, scaled):
    results, export_dir = scaled
    for table in ("flights", "weather"):
        files = pyarrow.dataset.dataset(export_dir / table, format="parquet")
        assert files.count_rows() == results[f"{SCALED}.{table}"].rows, table
        assert files.schema.field("time_hour").type == pa.timestamp("us", tz="UTC"), table


def test_rerun_with_the_same_copies_and_seed_changes_nothing(spark, scaled):
    before = scaled[0]
    again = {result.table: result for result in scale(spark, COPIES, raw_schema=RAW_SCHEMA)}
    assert all(result.unchanged for result in again.values())
    assert {table: (r.rows, r.delta_version) for table, r in again.items()} == {
        table: (r.rows, r.delta_version) for table, r in before.items()
    }


def test_rerun_with_another_seed_replaces_the_copies(spark, scaled):
    table = f"{SCALED}.flights"
    before = scaled[0][table]
    [flights, _] = scale(spark, COPIES, seed=1, raw_schema=RAW_SCHEMA)
    assert not flights.unchanged
    assert flights.rows == before.rows
    assert flights.delta_version > before.delta_version
    properties = {row["key"]: row["value"] for row in spark.sql(f"show tblproperties {table}").collect()}
    assert properties["lakehouse.scale.seed"] == "1"
