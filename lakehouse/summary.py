"""`lakehouse summary`: every table of the lakehouse with its row count, format and current Delta version."""

import argparse

from pyspark.sql import SparkSession

from lakehouse.spark import get_spark

LAYERS = ["raw", "staging", "intermediate", "features", "ml"]


def fingerprint_query(table: str) -> str:
    """Row count and an order-independent checksum of every column: equal on two engines = the same table."""
    return f"select count(*) as row_count, sum(cast(xxhash64(*) as decimal(38, 0))) as checksum from {table}"


def table_rows(spark: SparkSession, checksums: bool = False) -> list[tuple]:
    """(table, format, rows, Delta version, checksum or None) for every table of every layer."""
    existing = {row[0] for row in spark.sql("show schemas").collect()}
    rows = []
    for schema in [layer for layer in LAYERS if layer in existing]:
        for table in sorted(row["tableName"] for row in spark.sql(f"show tables in {schema}").collect()):
            name = f"{schema}.{table}"
            detail = spark.sql(f"describe detail {name}").first()
            version = None
            if detail["format"] == "delta":
                version = spark.sql(f"describe history {name} limit 1").first()["version"]
            if checksums:
                count, checksum = spark.sql(fingerprint_query(name)).first()
            else:
                count, checksum = spark.table(name).count(), None
            rows.append((name, detail["format"], count, version, checksum))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lakehouse summary", description=__doc__)
    parser.add_argument(
        "--checksums", action="store_true", help="add an order-independent checksum of each table (to compare targets)"
    )
    arguments = parser.parse_args(argv)
    spark = get_spark("lakehouse-summary")
    print(f"{'table':<52} {'format':<7} {'rows':>10} {'version':>8}" + ("  checksum" if arguments.checksums else ""))
    for name, table_format, rows, version, checksum in table_rows(spark, arguments.checksums):
        line = f"{name:<52} {table_format:<7} {rows:>10,} {'' if version is None else version:>8}"
        print(line + (f"  {checksum}" if arguments.checksums else ""))
