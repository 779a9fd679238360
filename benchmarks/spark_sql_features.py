"""The project's own model SQL in one bare Spark session: the engine's speed on the dbt path's work.

    python -m benchmarks.spark_sql_features INPUT_DIR OUTPUT.parquet --manifest MANIFEST.json

MANIFEST.json is what `dbt compile --select +flight_features --full-refresh --vars '{copies: K}'` wrote (the
benchmark runs it beforehand, untimed): every model's SQL as dbt rendered it, with its relation name. Here each
model upstream of flight_features becomes a temporary view over the ones before it, in dependency order; the
bronze sources are views over the Parquet export (the same files the pandas and DuckDB baselines read; the
feed's event tables, which it does not carry, empty, as `dbt build` creates them where no stream wrote), the
seeds views over their CSV files with the column types `seeds/_seeds.yml` declares; and one Parquet write of
flight_features at the end runs the lot as one Spark plan. No dbt, no Delta, no metastore, no layer written.

The session has the project's Spark configuration (lakehouse.spark.spark_conf) less what only the lakehouse
needs: the Delta extension and catalog, the Hive metastore and the Delta jars.
"""

import argparse
import json
import re
import time
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructField, StructType, _parse_datatype_string

from lakehouse.ingest.bronze_tables import bronze_table
from lakehouse.paths import PROJECT_ROOT
from lakehouse.project import node_meta
from lakehouse.spark import spark_conf

FINAL_MODEL = "flight_features"
# Settings of the lakehouse itself (catalog, metastore, Delta), not of the engine's execution.
LAKEHOUSE_ONLY = (
    "spark.sql.extensions",
    "spark.sql.catalog.spark_catalog",
    "spark.sql.catalogImplementation",
    "spark.sql.warehouse.dir",
    "spark.hadoop.javax.jdo.option.ConnectionURL",
    "spark.hadoop.hive.metastore.disallow.incompatible.col.type.changes",
    "spark.driver.extraClassPath",
    "spark.executor.extraClassPath",
    "spark.databricks.delta.snapshotPartitions",
)


def bare_session(app_name: str = "benchmark-spark-sql") -> SparkSession:
    builder = SparkSession.builder.config("spark.sql.catalogImplementation", "in-memory")
    for key, value in spark_conf().items():
        if not key.startswith(LAKEHOUSE_ONLY) and not key.startswith("spark.databricks.delta."):
            builder = builder.config(key, value)
    return builder.appName(app_name).getOrCreate()


def upstream(manifest: dict, unique_id: str) -> list[str]:
    """unique_id and every node it depends on, each after its own dependencies."""
    ordered: list[str] = []

    def visit(node_id: str) -> None:
        if node_id in ordered:
            return
        node = manifest["nodes"].get(node_id) or manifest["sources"][node_id]
        for parent in node.get("depends_on", {}).get("nodes", []):
            visit(parent)
        ordered.append(node_id)

    visit(unique_id)
    return ordered


def view_name(relation_name: str) -> str:
    return relation_name.replace("`", "").replace(".", "__")


def seed_schema(node: dict) -> StructType:
    types = node["config"]["column_types"]
    return StructType([StructField(name, _parse_datatype_string(kind)) for name, kind in types.items()])


def source(spark: SparkSession, node: dict, input_dir: Path) -> DataFrame:
    """A bronze table from the export; a feed's event table, which the export does not carry, empty with the
    columns the yml declares: what the dbt path reads, where `dbt build` creates it empty
    (macros/bronze_tables.sql)."""
    folder = input_dir / node["identifier"]
    if not folder.exists() and node_meta(node).get("written_by") == "lakehouse stream":
        return spark.createDataFrame([], bronze_table(node["identifier"]).schema())
    return spark.read.parquet(str(folder))


def register(spark: SparkSession, manifest: dict, input_dir: Path) -> str:
    """A temporary view per node upstream of flight_features; the name of flight_features' view."""
    final_id = next(node_id for node_id in manifest["nodes"] if node_id.endswith(f".{FINAL_MODEL}"))
    renamed: dict[str, str] = {}
    for node_id in upstream(manifest, final_id):
        node = manifest["nodes"].get(node_id) or manifest["sources"][node_id]
        relation, name = node["relation_name"], view_name(node["relation_name"])
        if node["resource_type"] == "source":
            source(spark, node, input_dir).createOrReplaceTempView(name)
        elif node["resource_type"] == "seed":
            # 'NA' as null: staging turns the seeds' NA strings into nulls, and numeric NA loads as null.
            seed_file = PROJECT_ROOT / node["original_file_path"]
            frame = spark.read.csv(str(seed_file), schema=seed_schema(node), header=True, nullValue="NA")
            frame.createOrReplaceTempView(name)
        else:
            sql = node["compiled_code"]
            for other, other_name in renamed.items():
                sql = re.sub(rf"(?<![\w.]){re.escape(other)}(?![\w])", other_name, sql)
            spark.sql(f"create or replace temporary view {name} as {sql}")
        renamed[relation] = name
    return renamed[manifest["nodes"][final_id]["relation_name"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input_dir", type=Path, help="the --export-dir of `lakehouse scale` (flights/, weather/)")
    parser.add_argument("output", type=Path, help="the Parquet file to write")
    parser.add_argument("--manifest", type=Path, required=True, help="dbt compile's manifest.json")
    args = parser.parse_args()
    started = time.monotonic()
    manifest = json.loads(args.manifest.read_text())
    spark = bare_session()
    features = register(spark, manifest, args.input_dir)
    spark.table(features).write.mode("overwrite").parquet(str(args.output))
    flights = spark.read.parquet(str(args.output)).count()
    print(f"spark-sql: {flights:,} flights -> {args.output} in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
