"""`lakehouse summary`: every table with its row count, format and Delta version, then what the last dbt run
tested, how the newest model scores against its baselines, how it did on the latest day the monitoring models
hold, and where the docs, plots and MLflow are."""

import argparse
import json
import os
from collections import Counter
from pathlib import Path

from pyspark.sql import SparkSession

from lakehouse.errors import LakehouseError
from lakehouse.ml import model_store
from lakehouse.paths import PROJECT_ROOT
from lakehouse.project import model_relation
from lakehouse.spark import delta_version, get_spark


def dbt_target_dir() -> Path:
    """dbt's artifacts folder: target/ in the project, unless DBT_TARGET_PATH (which dbt reads too) moves it."""
    return PROJECT_ROOT / os.environ.get("DBT_TARGET_PATH", "target")


LAYERS = ["raw", "staging", "intermediate", "features", "ml", "monitoring"]


def fingerprint_query(table: str) -> str:
    """Row count and an order-independent checksum of every column: equal on two engines = the same table."""
    return f"select count(*) as row_count, sum(cast(xxhash64(*) as decimal(38, 0))) as checksum from {table}"


def stored_tables(spark: SparkSession, schema: str) -> list[str]:
    """The tables of a schema that hold data: not its views (the intermediate joins), nor temporary views."""
    views = {row["viewName"] for row in spark.sql(f"show views in {schema}").collect()}
    listed = spark.sql(f"show tables in {schema}").collect()
    return sorted(
        f"{schema}.{row['tableName']}" for row in listed if not row["isTemporary"] and row["tableName"] not in views
    )


def every_table(spark: SparkSession) -> list[str]:
    existing = {row[0] for row in spark.sql("show schemas").collect()}
    return [name for schema in LAYERS if schema in existing for name in stored_tables(spark, schema)]


def table_rows(spark: SparkSession, checksums: bool = False, names: list[str] | None = None) -> list[tuple]:
    """(table, format, rows, Delta version, checksum or None) for the named tables, or every table of every layer."""
    for name in names or []:
        if not spark.catalog.tableExists(name):
            raise LakehouseError(f"no table {name}: name one that `lakehouse summary` lists, as schema.table")
    rows = []
    for name in names or every_table(spark):
        detail = spark.sql(f"describe detail {name}").first()
        version = None
        if detail["format"] == "delta":
            version = delta_version(spark, name)
        if checksums:
            count, checksum = spark.sql(fingerprint_query(name)).first()
        else:
            count, checksum = spark.table(name).count(), None
        rows.append((name, detail["format"], count, version, checksum))
    return rows


def dbt_results() -> str:
    """The last dbt command's outcome, from dbt's own run_results.json."""
    results_file = dbt_target_dir() / "run_results.json"
    if not results_file.exists():
        return "dbt: no run yet (`dbt build`)"
    run = json.loads(results_file.read_text())
    statuses = Counter(result["status"] for result in run["results"])
    command = f"dbt {run['args']['which']}"
    counts = ", ".join(f"{status} {count}" for status, count in sorted(statuses.items()))
    return f"{command}: {counts} ({run['elapsed_time']:.0f} s, {run['metadata']['generated_at'][:19]}Z)"


def model_results() -> list[str]:
    """The newest model's test ROC AUC beside its baselines', and where its plots and MLflow run are."""
    version_dir = model_store.latest_version_dir()
    if version_dir is None:
        return ["model: none yet (`python ml/train.py`)"]
    from lakehouse.ml.tracking import tracking_uri  # imports mlflow: only when there is a model to point at

    metadata = model_store.read_metadata(version_dir)
    by_score = sorted(metadata["test_metrics"].items(), key=lambda item: -item[1]["roc_auc"])
    scores = ", ".join(f"{name} {metrics['roc_auc']:.4f}" for name, metrics in by_score)
    return [
        f"model {version_dir.name} on {metadata['features_table']} (test from {metadata['split']['test_from']}),"
        f" ROC AUC: {scores}",
        f"plots: {version_dir / 'plots'}",
        f"MLflow: mlflow ui --backend-store-uri {tracking_uri()}  (then http://127.0.0.1:5000)",
    ]


def monitoring_results(spark: SparkSession) -> list[str]:
    """The newest model version's latest day in the monitoring models: its scores against the outcomes, its
    calibration by decile and the features that drifted most in the week through that day."""
    performance, calibration, drift, versions = (
        model_relation(name)
        for name in (
            "model_daily_performance",
            "model_calibration_by_decile",
            "model_feature_drift",
            "stg_ml__model_versions",
        )
    )
    if not spark.catalog.tableExists(performance):
        return ["monitoring: not built yet (`dbt build`)"]
    newest_first = "cast(substr(model_version, 2) as int) desc, flight_date desc"
    day = spark.sql(f"select * from {performance} order by {newest_first} limit 1").first()
    if day is None:
        return ["monitoring: no scored flights yet (`python ml/score.py`, then `dbt build --select source:ml+`)"]
    version, date = day["model_version"], day["flight_date"]
    tested = spark.sql(f"select test_roc_auc from {versions} where model_version = '{version}'").first()
    deciles = spark.sql(
        f"select predicted_delay_rate, observed_delay_rate from {calibration}"
        f" where model_version = '{version}' and flight_date = '{date}' order by probability_decile"
    ).collect()
    drifts = spark.sql(
        f"select feature_name, population_stability_index, has_drifted from {drift}"
        f" where model_version = '{version}' and flight_date = '{date}' order by population_stability_index desc"
    ).collect()
    roc_auc = "n/a" if day["roc_auc"] is None else f"{day['roc_auc']:.4f}"
    if tested is not None and tested["test_roc_auc"] is not None:
        roc_auc += f" (tested {tested['test_roc_auc']:.4f})"
    rates = f"delay rate {day['observed_delay_rate']:.3f} observed / {day['predicted_delay_rate']:.3f} predicted"
    lines = [
        f"monitoring {version}, {date}: {day['scored_flight_count']:,} flights, {rates},"
        f" Brier {day['brier_score']:.4f}, ROC AUC {roc_auc}",
        "  calibration by decile, predicted/observed: "
        + " ".join(f"{row['predicted_delay_rate']:.2f}/{row['observed_delay_rate']:.2f}" for row in deciles),
    ]
    if drifts:
        drifted = sum(row["has_drifted"] for row in drifts)
        most = ", ".join(f"{row['feature_name']} {row['population_stability_index']:.2f}" for row in drifts[:3])
        lines.append(f"  drift over the week to {date}: {drifted} of {len(drifts)} features; most: {most}")
    else:
        lines.append(f"  drift: none measured ({version} has no row in ml.model_versions: re-run `python ml/score.py`)")
    return lines


def docs_site() -> str:
    if (dbt_target_dir() / "catalog.json").exists():
        return f"docs: {dbt_target_dir() / 'index.html'}; `dbt docs serve` shows it at http://localhost:8080"
    return "docs: not generated yet (`dbt docs generate && dbt docs serve`)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lakehouse summary", description=__doc__)
    parser.add_argument(
        "--checksums", action="store_true", help="add an order-independent checksum of each table (to compare targets)"
    )
    parser.add_argument("tables", nargs="*", help="only these tables (schema.table); default every table")
    arguments = parser.parse_args(argv)
    spark = get_spark("lakehouse-summary")
    print(f"{'table':<52} {'format':<7} {'rows':>10} {'version':>8}" + ("  checksum" if arguments.checksums else ""))
    for name, table_format, rows, version, checksum in table_rows(spark, arguments.checksums, arguments.tables):
        line = f"{name:<52} {table_format:<7} {rows:>10,} {'' if version is None else version:>8}"
        print(line + (f"  {checksum}" if arguments.checksums else ""))
    print()
    for line in [dbt_results(), *model_results(), *monitoring_results(spark), docs_site()]:
        print(line)
