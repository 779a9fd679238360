"""Reading features.flight_features (or its twin on K copies of the year, features_x<K>) for ml/: by table
name, optionally at a Delta version, prepared the same way for training and scoring."""

import math

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.errors import LakehouseError, TableMissingError
from lakehouse.project import layer_schema
from lakehouse.spark import delta_version


def features_table(copies: int | None = None) -> str:
    """flight_features as `dbt build` writes it, on the year or (`--vars '{copies: K}'`) on K copies of it."""
    return f"{layer_schema('features', copies)}.flight_features"


FEATURES_TABLE = features_table()
KEY = "flight_id"
LABEL = "is_delayed"
CATEGORICAL = ["carrier_code", "origin_airport_code", "destination_airport_code", "aircraft_type", "engine_type"]
NUMERIC = [
    "month_of_year",
    "day_of_week",
    "scheduled_hour",
    "distance_miles",
    "engine_count",
    "seat_count",
    "aircraft_age_years",
    "temperature_f",
    "dewpoint_f",
    "relative_humidity",
    "wind_direction_degrees",
    "wind_speed_mph",
    "wind_gust_mph",
    "precipitation_inches",
    "pressure_millibars",
    "visibility_miles",
    "origin_prior_departure_count",
    "origin_prior_mean_delay_minutes",
    "origin_prior_delayed_share",
    "route_prior_departed_count",
    "route_prior_delay_rate",
]
SPLIT_MONTH = "split_month"
# Rates over an empty history are null; with the history's count beside them (0), 0 says the same and keeps
# the column usable when a training window has no history at all (a route's first month, January).
ZERO_WITHOUT_HISTORY = ["origin_prior_mean_delay_minutes", "origin_prior_delayed_share", "route_prior_delay_rate"]
# Rows per training partition: the year is 2 partitions, 30 copies of it 41.
ROWS_PER_TRAINING_PARTITION = 250_000


def read_features(
    spark: SparkSession, as_of_version: int | None = None, copies: int | None = None
) -> tuple[DataFrame, int]:
    """flight_features (of the year, or of K copies) at a Delta version (default: the current one), and that
    version."""
    table = features_table(copies)
    if not spark.catalog.tableExists(table):
        build = f"dbt build --vars '{{copies: {copies}}}'" if copies else "dbt build"
        raise TableMissingError(f"{table} does not exist: run `{build}` first")
    latest = delta_version(spark, table)
    version = latest if as_of_version is None else as_of_version
    if not 0 <= version <= latest:
        raise LakehouseError(f"{table} has versions 0 to {latest}: pick one of those for --as-of-version")
    return spark.read.option("versionAsOf", version).table(table), version


def parse_months(text: str) -> list[int]:
    """'1-9' -> [1, ..., 9]; '10' -> [10]."""
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def in_months(rows: DataFrame, months: list[int]) -> DataFrame:
    """The rows of model_input() whose flight falls in one of these calendar months."""
    return rows.where(F.col(SPLIT_MONTH).isin(months))


def model_input(features: DataFrame) -> DataFrame:
    """The columns the pipeline reads: categoricals with an explicit 'unknown', numerics as double (suffixed
    `_value`: the pipeline's Imputer writes the clean names), a 0/1 label, and the month the split uses."""
    return features.select(
        KEY,
        F.col("month_of_year").alias(SPLIT_MONTH),
        *[F.coalesce(F.col(name), F.lit("unknown")).alias(name) for name in CATEGORICAL],
        *[
            (F.coalesce(F.col(name), F.lit(0)) if name in ZERO_WITHOUT_HISTORY else F.col(name))
            .cast("double")
            .alias(f"{name}_value")
            for name in NUMERIC
        ],
        F.col(LABEL).cast("double").alias("label"),
    )


def in_fixed_layout(rows: DataFrame) -> DataFrame:
    """The same rows in the same partitions and order however the table's files happen to lie. MLlib samples
    partition by partition (the GBT's candidate splits, the Imputer's medians), so without this a rebuilt table
    with identical rows trains a different model from the same seed."""
    partitions = max(1, math.ceil(rows.count() / ROWS_PER_TRAINING_PARTITION))
    return rows.repartition(partitions, KEY).sortWithinPartitions(KEY)
