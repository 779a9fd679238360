"""Reading features.flight_features (or its twin on K copies of the year, features_x<K>) for ml/: by table
name, optionally at a Delta version, prepared the same way for training and scoring.

The table's name and what each of its columns is to the model come from dbt's manifest (lakehouse/project.py):
the relation dbt builds, and each column's `meta` (lakehouse.project.feature_roles). A new feature is
its SQL and its yml entry; nothing here names a column.
"""

import math
from dataclasses import asdict, dataclass
from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.errors import LakehouseError, TableMissingError
from lakehouse.project import FEATURES_MODEL, UNKNOWN_CATEGORY, FeatureRoles, feature_roles, model_relation
from lakehouse.project import columns_from as project_columns_from
from lakehouse.spark import delta_version

SPLIT_DATE = "split_date"
# Rows per training partition: the year is 2 partitions, 30 copies of it 41.
ROWS_PER_TRAINING_PARTITION = 250_000


def features_table(copies: int | None = None) -> str:
    """flight_features as `dbt build` writes it, on the year or (`--vars '{copies: K}'`) on K copies of it."""
    return model_relation(FEATURES_MODEL, copies)


def columns_from(*origins: str) -> list[str]:
    """flight_features' columns whose meta `from` is one of these (staging, weather, origin_history, ...)."""
    return project_columns_from(FEATURES_MODEL, *origins)


def read_features(
    spark: SparkSession, as_of_version: int | None = None, copies: int | None = None, table: str | None = None
) -> tuple[DataFrame, int]:
    """flight_features (of the year, of K copies, or the table named) at a Delta version (default: the current
    one), and that version."""
    table = table or features_table(copies)
    if not spark.catalog.tableExists(table):
        build = f"dbt build --vars '{{copies: {copies}}}'" if copies else "dbt build"
        raise TableMissingError(f"{table} does not exist: run `{build}` first")
    latest = delta_version(spark, table)
    version = latest if as_of_version is None else as_of_version
    if not 0 <= version <= latest:
        raise LakehouseError(f"{table} has versions 0 to {latest}: pick one of those for --as-of-version")
    return spark.read.option("versionAsOf", version).table(table), version


@dataclass(frozen=True)
class Split:
    """A split in time, never by chance: train on flights before `validation_from`, tune on those from it up to
    `test_from`, test on those from `test_from` up to `end` (exclusive). Dates are flight dates (New York)."""

    validation_from: date
    test_from: date
    end: date

    @classmethod
    def of_timeline(cls, last_date: date, test_months: int = 2, validation_months: int = 1) -> "Split":
        """Test on the last `test_months` calendar months of the timeline, validate on the months before; train
        on everything earlier. On the year: train January-September, validate October, test November-December;
        on K copies the same at the end of the last copy (calendar months, not month numbers, which repeat)."""
        test_from = month_start(last_date, -(test_months - 1))
        return cls(month_start(test_from, -validation_months), test_from, date.fromordinal(last_date.toordinal() + 1))

    def periods(self) -> dict[str, tuple[date | None, date]]:
        """Each part's [from, to) (train has no start)."""
        return {
            "train": (None, self.validation_from),
            "validation": (self.validation_from, self.test_from),
            "test": (self.test_from, self.end),
        }

    def describe(self, name: str) -> str:
        start, end = self.periods()[name]
        return f"{'the start' if start is None else start.isoformat()} to {end.isoformat()} (exclusive)"

    def as_metadata(self) -> dict[str, str]:
        return {name: value.isoformat() for name, value in asdict(self).items()}

    @classmethod
    def from_metadata(cls, recorded: dict[str, str]) -> "Split":
        return cls(**{name: date.fromisoformat(value) for name, value in recorded.items()})


def month_start(day: date, months: int = 0) -> date:
    """The first day of the month `months` months after (negative: before) the month of `day`."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def last_flight_date(features: DataFrame) -> date:
    return features.agg(F.max(feature_roles().split_time)).first()[0]


def prediction_lead_minutes(features: DataFrame, table: str) -> int:
    """How long before the scheduled departure the table's features were taken: one lead for every row, since
    flight_features rebuilds any day built at another (dbt_project.yml's `prediction_lead_minutes`)."""
    roles = feature_roles()
    lead = (F.unix_seconds(roles.scheduled_time) - F.unix_seconds(roles.as_of)) / 60
    leads = sorted(row[0] for row in features.select(lead.cast("int")).distinct().limit(3).collect())
    if len(leads) != 1:
        raise LakehouseError(
            f"{table} holds features taken at leads of {leads} minutes, not one: rebuild it with"
            f" `dbt build --full-refresh --select {FEATURES_MODEL}`"
        )
    return leads[0]


def in_period(rows: DataFrame, start: date | None, end: date) -> DataFrame:
    """The rows of model_input() whose flight date lies in [start, end)."""
    within = F.col(SPLIT_DATE) < F.lit(end)
    return rows.where(within if start is None else within & (F.col(SPLIT_DATE) >= F.lit(start)))


def split_rows(rows: DataFrame, split: Split) -> dict[str, DataFrame]:
    return {name: in_period(rows, start, end) for name, (start, end) in split.periods().items()}


def model_input(features: DataFrame, roles: FeatureRoles | None = None) -> DataFrame:
    """The columns the pipeline reads (of the yml's roles, or of these): categoricals with an explicit UNKNOWN_CATEGORY,
    numerics as double (suffixed `_value`: the pipeline's Imputer writes the clean names), a 0/1 label, and the
    date the split uses."""
    roles = roles or feature_roles()
    return features.select(
        roles.key,
        F.col(roles.split_time).alias(SPLIT_DATE),
        *[F.coalesce(F.col(name), F.lit(UNKNOWN_CATEGORY)).alias(name) for name in roles.categorical],
        *[
            (F.coalesce(F.col(name), F.lit(0)) if name in roles.zero_when_null else F.col(name))
            .cast("double")
            .alias(value)
            for name, value in zip(roles.numeric, roles.numeric_inputs, strict=True)
        ],
        F.col(roles.label).cast("double").alias("label"),
    )


def in_fixed_layout(rows: DataFrame) -> DataFrame:
    """The same rows in the same partitions and order however the table's files happen to lie. MLlib samples
    partition by partition (the GBT's candidate splits, the Imputer's medians), so without this a rebuilt table
    with identical rows trains a different model from the same seed."""
    partitions = max(1, math.ceil(rows.count() / ROWS_PER_TRAINING_PARTITION))
    key = feature_roles().key
    return rows.repartition(partitions, key).sortWithinPartitions(key)
