"""
Score flights with the saved delay model and merge the predictions into the Delta table ml.predictions, and
the model version's training window into ml.model_versions (what the monitoring models compare it with).

The model scores the table it learned from (its metadata names it: features.flight_features, or the
features_x<K> twin of a `--copies K` training run, whose predictions go to ml_x<K>.predictions); asking for
another one is refused. Re-scoring a period with the same model replaces its rows (MERGE on flight_id and
model_version) instead of adding copies; another model version's scores sit beside them, for monitoring.
By default the model's own test period is scored.

Run with:
    python ml/score.py [--from 2013-11-01] [--to 2014-01-01] [--copies K] [--as-of-version N]
                       [--model-version vN]
"""

import argparse
from datetime import date, datetime

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.entry import run
from lakehouse.errors import LakehouseError
from lakehouse.ml import evaluation, model_store
from lakehouse.ml.features import Split, features_table, in_period, model_input, read_features
from lakehouse.project import feature_roles, source_columns, source_relation
from lakehouse.spark import delta_version, get_spark


def predictions_table(copies: int | None = None) -> str:
    """Where scores of the year's features land, or (K) of the features built on K copies of it: the source
    `ml.predictions` of the dbt project."""
    return source_relation("ml", "predictions", copies)


def model_version_row(spark: SparkSession, metadata: dict) -> DataFrame:
    """The version's row of ml.model_versions, in the columns (and types) the source's yml declares."""
    split = Split.from_metadata(metadata["split"])
    values = {
        "model_version": metadata["model_version"],
        "estimator": metadata["estimator"],
        "features_table": metadata["features_table"],
        "features_delta_version": metadata["features_delta_version"],
        "threshold": metadata["threshold"],
        "test_roc_auc": metadata["test_metrics"][model_store.model_label(metadata["estimator"])]["roc_auc"],
        "test_from_date": split.test_from,
        "test_before_date": split.end,
        "trained_at": datetime.fromisoformat(metadata["trained_at"]),
    }
    columns = source_columns("ml", "model_versions", metadata.get("copies"))
    schema = ", ".join(f"{name} {data_type}" for name, data_type in columns.items())
    return spark.createDataFrame([tuple(values[name] for name in columns)], schema)


def merge_into(spark: SparkSession, rows: DataFrame, table: str, keys: list[str]) -> int:
    """Upsert the rows into a Delta table on its keys (creating it the first time); its new Delta version."""
    spark.sql(f"create schema if not exists {table.partition('.')[0]}")
    if not spark.catalog.tableExists(table):
        rows.limit(0).write.format("delta").saveAsTable(table)
    (
        DeltaTable.forName(spark, table)
        .alias("existing")
        .merge(rows.alias("new"), " and ".join(f"existing.{key} = new.{key}" for key in keys))
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )
    return delta_version(spark, table)


def scored_table(metadata: dict, copies: int | None) -> str:
    """The model's own features table; a different one asked for with --copies is an error."""
    table = metadata["features_table"]
    if copies is not None and features_table(copies) != table:
        raise LakehouseError(
            f"model {metadata['model_version']} learned from {table}, not {features_table(copies)}: score {table}"
            f" (drop --copies), or train on it first (`python ml/train.py --copies {copies}`)"
        )
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--from", dest="start", type=date.fromisoformat, help="first flight date to score")
    parser.add_argument("--to", dest="end", type=date.fromisoformat, help="the day after the last one")
    parser.add_argument("--copies", type=int, help="expect the model of the K-copies build (a check)")
    parser.add_argument("--as-of-version", type=int, help="score this Delta version of the features table")
    parser.add_argument("--model-version", help="score with this saved model (v3; default: the newest)")
    args = parser.parse_args(argv)

    spark = get_spark("ml-score")
    model, metadata = model_store.load(args.model_version)
    table = scored_table(metadata, args.copies)
    test = Split.from_metadata(metadata["split"]).periods()["test"]
    start, end = args.start or test[0], args.end or test[1]
    features, features_version = read_features(spark, args.as_of_version, table=table)
    flights = in_period(model_input(features), start, end)
    flight_count = flights.count()
    if flight_count == 0:
        raise LakehouseError(f"{table} has no flights from {start} to {end}: pick dates with flights")

    key = feature_roles().key
    predictions = evaluation.from_model(model.transform(flights)).select(
        key,
        F.col(evaluation.P_DELAYED).alias("delay_probability"),
        (F.col(evaluation.P_DELAYED) >= metadata["threshold"]).alias("is_predicted_delayed"),
        F.lit(metadata["model_version"]).alias("model_version"),
        F.lit(features_version).alias("features_delta_version"),
        F.current_timestamp().alias("scored_at"),
    )
    copies = metadata.get("copies")
    target = predictions_table(copies)
    version = merge_into(spark, predictions, target, [key, "model_version"])
    merge_into(
        spark, model_version_row(spark, metadata), source_relation("ml", "model_versions", copies), ["model_version"]
    )
    table_rows = spark.table(target).count()
    print(
        f"scored {flight_count:,} flights of {table} from {start} to {end} with model {metadata['model_version']}"
        f" -> {target} (Delta version {version}, {table_rows:,} rows)"
    )
    return table_rows


if __name__ == "__main__":
    run(main)
