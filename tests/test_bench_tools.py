"""The benchmark's tools on the slice, so that a change to the models cannot leave one behind unnoticed: spark-sql
(benchmarks/spark_sql_features.py), the models' compiled SQL over the Parquet export `lakehouse scale` writes,
computes flight_features row for row."""

import json

from dbt.cli.main import dbtRunner

from benchmarks.spark_sql_features import register
from lakehouse.ingest.bronze_tables import KINDS
from lakehouse.ingest.scale import export_parquet
from lakehouse.ml.features import features_table
from tests.conftest import dbt_flags


def test_spark_sql_computes_flight_features_from_the_export_row_for_row(spark, built, tmp_path):
    """As `lakehouse bench` runs it: the SQL dbt compiles with --full-refresh, the bronze tables the loader wrote
    as Parquet; the feed's event tables, which the export does not carry, read as empty, as the build made them."""
    compiled = dbtRunner().invoke(["compile", "--select", "+flight_features", "--full-refresh", *dbt_flags(tmp_path)])
    assert compiled.success, compiled.exception
    exported = tmp_path / "export"
    for table in KINDS:
        export_parquet(spark, f"raw.{table}", exported / table)
    assert not (exported / "flight_events").exists()

    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    computed = spark.table(register(spark, manifest, exported)).localCheckpoint()  # its whole plan run once
    stored = spark.table(features_table())
    assert set(computed.columns) == set(stored.columns)
    stored = stored.select(*computed.columns)
    assert computed.count() == stored.count() > 0
    assert computed.exceptAll(stored).count() == stored.exceptAll(computed).count() == 0
