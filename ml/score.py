"""
Score flights with the saved delay model and merge the predictions into the Delta table ml.predictions.

Re-scoring a period replaces its rows (MERGE on flight_id) instead of adding copies. By default the model's own
test months are scored.

Run with:
    python ml/score.py [--months 11-12] [--as-of-version N]
"""

import argparse

from delta.tables import DeltaTable
from pyspark.sql import functions as F

from lakehouse import evaluation, model_store
from lakehouse.cli import run
from lakehouse.errors import LakehouseError
from lakehouse.features import KEY, in_months, model_input, parse_months, read_features
from lakehouse.spark import delta_version, get_spark

PREDICTIONS_TABLE = "ml.predictions"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--months", type=parse_months, help="months to score, e.g. 11-12 (default: the test months)")
    parser.add_argument("--as-of-version", type=int, help="score this Delta version of flight_features")
    args = parser.parse_args(argv)

    spark = get_spark("ml-score")
    model, metadata = model_store.load_latest()
    months = args.months or metadata["months"]["test"]
    features, features_version = read_features(spark, args.as_of_version)
    flights = in_months(model_input(features), months)
    flight_count = flights.count()
    if flight_count == 0:
        raise LakehouseError(f"flight_features has no flights in months {months}: pick months with flights")

    predictions = evaluation.from_model(model.transform(flights)).select(
        KEY,
        F.col(evaluation.P_DELAYED).alias("delay_probability"),
        (F.col(evaluation.P_DELAYED) >= metadata["threshold"]).alias("is_predicted_delayed"),
        F.lit(metadata["model_version"]).alias("model_version"),
        F.lit(features_version).alias("features_delta_version"),
        F.current_timestamp().alias("scored_at"),
    )
    spark.sql("create schema if not exists ml")
    if not spark.catalog.tableExists(PREDICTIONS_TABLE):
        predictions.limit(0).write.format("delta").saveAsTable(PREDICTIONS_TABLE)
    (
        DeltaTable.forName(spark, PREDICTIONS_TABLE)
        .alias("existing")
        .merge(predictions.alias("scored"), f"existing.{KEY} = scored.{KEY}")
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )
    version = delta_version(spark, PREDICTIONS_TABLE)
    table_rows = spark.table(PREDICTIONS_TABLE).count()
    print(
        f"scored {flight_count:,} flights of months {months} with model {metadata['model_version']}"
        f" -> {PREDICTIONS_TABLE} (Delta version {version}, {table_rows:,} rows)"
    )
    return table_rows


if __name__ == "__main__":
    run(main)
