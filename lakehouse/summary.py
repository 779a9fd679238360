"""`lakehouse summary`: every table of the lakehouse with its row count, format and current Delta version."""

import argparse

from pyspark.sql import SparkSession

from lakehouse.spark import get_spark

LAYERS = ["raw", "staging", "intermediate", "features", "ml"]


def table_rows(spark: SparkSession) -> list[tuple[str, str, int, int | None]]:
    existing = {row[0] for row in spark.sql("show schemas").collect()}
    rows = []
    for schema in [layer for layer in LAYERS if layer in existing]:
        for table in sorted(row["tableName"] for row in spark.sql(f"show tables in {schema}").collect()):
            name = f"{schema}.{table}"
            detail = spark.sql(f"describe detail {name}").first()
            version = None
            if detail["format"] == "delta":
                version = spark.sql(f"describe history {name} limit 1").first()["version"]
            rows.append((name, detail["format"], spark.table(name).count(), version))
    return rows


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(prog="lakehouse summary", description=__doc__).parse_args(argv)
    spark = get_spark("lakehouse-summary")
    print(f"{'table':<52} {'format':<7} {'rows':>10} {'version':>8}")
    for name, table_format, rows, version in table_rows(spark):
        print(f"{name:<52} {table_format:<7} {rows:>10,} {'' if version is None else version:>8}")
