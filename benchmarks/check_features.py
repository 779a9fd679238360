"""Check a baseline's output against the project's features: the same flights, the same values.

    python -m benchmarks.check_features OUTPUT.parquet [--features-table features.flight_features]

Compares the columns the baselines produce (benchmarks/contract.py), or every column when the output has them
all (spark-sql's), with `features.flight_features`, built by `dbt build` on the same bronze rows the baseline's
input files were exported from (K=1: `raw` and `raw_x1` hold the same rows). Every column must be equal (nulls
equal nulls), the means to within 1e-9. Runs in Spark, joined on flight_id, so it works at any K. Exits 1,
naming the columns and showing a few rows, on a mismatch.
"""

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from benchmarks.contract import COLUMNS, KEY, MEAN_COLUMNS
from lakehouse.ml.features import features_table
from lakehouse.spark import get_spark

SAMPLE_ROWS = 5
SIDES = ("project", "baseline")


@dataclass(frozen=True)
class Comparison:
    project_rows: int
    baseline_rows: int
    baseline_keys: int
    only_in_project: int
    only_in_baseline: int
    mismatches: dict[str, int]

    @property
    def matches(self) -> bool:
        return (
            self.project_rows == self.baseline_rows == self.baseline_keys
            and self.only_in_project == self.only_in_baseline == 0
            and not any(self.mismatches.values())
        )


def differs(column: str) -> Column:
    project, baseline = F.col(f"project.{column}"), F.col(f"baseline.{column}")
    if column in MEAN_COLUMNS:
        both_null = project.isNull() & baseline.isNull()
        close = F.abs(project - baseline) <= MEAN_COLUMNS[column]
        return ~F.coalesce(both_null | close, F.lit(False))
    return ~project.eqNullSafe(baseline)


def compare(
    project: DataFrame, baseline: DataFrame, columns: list[str] = COLUMNS
) -> tuple[Comparison, DataFrame | None]:
    """The comparison of these columns, and the differing rows side by side (None when there are none)."""
    present = F.lit(True).alias("_present")
    joined = (
        project.select("*", present)
        .alias("project")
        .join(baseline.select("*", present).alias("baseline"), on=KEY, how="full_outer")
    )
    in_project, in_baseline = F.col("project._present").isNotNull(), F.col("baseline._present").isNotNull()
    both = in_project & in_baseline
    values = [column for column in columns if column != KEY]
    counts = joined.agg(
        F.count_if(in_project & ~in_baseline).alias("only_in_project"),
        F.count_if(in_baseline & ~in_project).alias("only_in_baseline"),
        *[F.count_if(both & differs(column)).alias(column) for column in values],
    ).first()
    comparison = Comparison(
        project_rows=project.count(),
        baseline_rows=baseline.count(),
        baseline_keys=baseline.select(KEY).distinct().count(),
        only_in_project=counts["only_in_project"],
        only_in_baseline=counts["only_in_baseline"],
        mismatches={column: counts[column] for column in values},
    )
    wrong = [column for column, count in comparison.mismatches.items() if count]
    if not wrong:
        return comparison, None
    side_by_side = [F.col(f"{side}.{column}").alias(f"{side}_{column}") for column in wrong for side in SIDES]
    any_differs = F.greatest(*[differs(column) for column in wrong], F.lit(False))
    return comparison, joined.where(both & any_differs).select(KEY, *side_by_side)


def check(spark: SparkSession, output: Path, table: str) -> Comparison:
    project, baseline = spark.table(table), spark.read.parquet(str(output))
    columns = project.columns if set(project.columns) <= set(baseline.columns) else COLUMNS
    comparison, sample = compare(project.select(*columns), baseline.select(*columns), columns)
    print(
        f"{table}: {comparison.project_rows:,} rows; {output}: {comparison.baseline_rows:,} rows,"
        f" {comparison.baseline_keys:,} distinct {KEY}; only in the project {comparison.only_in_project:,},"
        f" only in the baseline {comparison.only_in_baseline:,}"
    )
    for column, count in comparison.mismatches.items():
        tolerance = f" (within {MEAN_COLUMNS[column]:g})" if column in MEAN_COLUMNS else ""
        print(f"  {column:<34} {'equal' + tolerance if count == 0 else f'{count:,} rows differ'}")
    if sample is not None:
        sample.show(SAMPLE_ROWS, truncate=False)
    print("match" if comparison.matches else "MISMATCH")
    return comparison


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="the baseline's Parquet file")
    parser.add_argument("--features-table", help="default: the year's flight_features")
    args = parser.parse_args()
    spark = get_spark("benchmark-check")
    sys.exit(0 if check(spark, args.output, args.features_table or features_table()).matches else 1)


if __name__ == "__main__":
    main()
