"""
Train, evaluate and save the flight-delay model: a Spark MLlib GBT pipeline on features.flight_features.

The split follows time, never chance: a random split would let a day's congestion history leak between
training and test rows. Test on the last two calendar months of the table's timeline, tune on the month before,
train on everything earlier; then refit on training and tuning months together and test once. On the year:
train January-September, tune October, test November-December; on K copies of it, the same at the end of the
last copy. A logistic regression pipeline and two rates from the training period (the overall delay rate, and
the rate by carrier x scheduled hour) are the baselines.

Run with:
    python ml/train.py [--copies K] [--as-of-version N] [--validation-from DATE] [--test-from DATE] [--quick]
"""

import argparse
import subprocess
import time
from datetime import UTC, date, datetime
from importlib.metadata import version as package_version
from pathlib import Path

from pyspark import StorageLevel
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import GBTClassifier, LogisticRegression
from pyspark.ml.feature import Imputer, OneHotEncoder, StandardScaler, StringIndexer, VectorAssembler
from pyspark.ml.tuning import ParamGridBuilder
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse import evaluation, model_store, plots
from lakehouse.cli import run
from lakehouse.errors import LakehouseError
from lakehouse.features import (
    CATEGORICAL,
    NUMERIC,
    Split,
    features_table,
    in_fixed_layout,
    last_flight_date,
    model_input,
    month_start,
    read_features,
    split_rows,
)
from lakehouse.paths import PROJECT_ROOT
from lakehouse.spark import get_spark
from lakehouse.tracking import tracking_dir, tracking_uri, use_project_store

SEED = 13


def preparation() -> Pipeline:
    """Impute numerics, index and one-hot encode categoricals (unseen values get their own slot), assemble."""
    imputer = Imputer(inputCols=[f"{name}_value" for name in NUMERIC], outputCols=NUMERIC, strategy="median")
    indexer = StringIndexer(
        inputCols=CATEGORICAL, outputCols=[f"{name}_index" for name in CATEGORICAL], handleInvalid="keep"
    )
    encoder = OneHotEncoder(
        inputCols=indexer.getOutputCols(), outputCols=[f"{name}_is" for name in CATEGORICAL], handleInvalid="keep"
    )
    assembler = VectorAssembler(inputCols=NUMERIC + encoder.getOutputCols(), outputCol="features")
    return Pipeline(stages=[imputer, indexer, encoder, assembler])


def build_pipeline(classifier) -> Pipeline:
    """The preparation, then the classifier."""
    return Pipeline(stages=[*preparation().getStages(), classifier])


def prepared(rows: DataFrame) -> tuple[PipelineModel, DataFrame]:
    """The preparation fitted on these rows, and the rows as a classifier reads them, cached. A GBT passes over
    its input three times before its first tree (metadata, candidate splits, binning), a logistic regression
    twice, and re-running the preparation for each pass cost more than the trees themselves (K=30)."""
    fitted = preparation().fit(rows)
    return fitted, fitted.transform(rows).select("label", "features").persist(StorageLevel.MEMORY_AND_DISK)


def with_preparation(fitted: PipelineModel, *models) -> PipelineModel:
    """One pipeline model, raw features in, probability out: what the store keeps and scoring runs."""
    return PipelineModel(stages=[*fitted.stages, *models])


def chosen_split(features, validation_from: date | None, test_from: date | None) -> Split:
    """The timeline's own split (Split.of_timeline), with either cut-off moved when asked for."""
    last_date = last_flight_date(features)
    if last_date is None:
        raise LakehouseError("flight_features is empty: run `dbt build` on loaded data first")
    timeline = Split.of_timeline(last_date)
    test_from = test_from or timeline.test_from
    split = Split(validation_from or month_start(test_from, -1), test_from, timeline.end)
    if not split.validation_from < split.test_from < split.end:
        raise LakehouseError(
            f"the cut-offs must come in order before the last flight ({last_date}): validation from"
            f" {split.validation_from}, test from {split.test_from}; pick other --validation-from/--test-from"
        )
    return split


def check_split(parts: dict, split: Split, table: str) -> None:
    for name, rows in parts.items():
        classes = {row["label"] for row in rows.select("label").distinct().collect()}
        if not classes:
            raise LakehouseError(f"no {table} rows in the {name} period {split.describe(name)}: pick other cut-offs")
        if len(classes) < 2:
            raise LakehouseError(
                f"the {name} period {split.describe(name)} holds only"
                f" {'delayed' if 1.0 in classes else 'on-time'} flights: pick other cut-offs"
            )


def readable_importances(model, scored) -> dict[str, float]:
    """GBT importances keyed by 'carrier_code = UA' rather than vector slots."""
    attributes = scored.schema["features"].metadata["ml_attr"]["attrs"]
    names = {attr["idx"]: attr["name"].replace("_is_", " = ") for group in attributes.values() for attr in group}
    importances = model.stages[-1].featureImportances
    return {names[index]: float(importances[index]) for index in range(importances.size) if importances[index] > 0}


class Progress:
    """Each stage's line, with the seconds since training started."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.0f} s] {message}", flush=True)


def git_commit() -> str | None:
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    return result.stdout.strip() or None


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--as-of-version", type=int, help="train on this Delta version of flight_features")
    parser.add_argument("--validation-from", type=date.fromisoformat, help="first day tuned on (YYYY-MM-DD)")
    parser.add_argument("--test-from", type=date.fromisoformat, help="first day tested on (YYYY-MM-DD)")
    parser.add_argument(
        "--copies", type=int, help="train on the K-copies build (`dbt build --vars '{copies: K}'`) instead of the year"
    )
    parser.add_argument("--quick", action="store_true", help="a one-point grid with few trees, for smoke tests")
    args = parser.parse_args(argv)

    progress = Progress()
    spark = get_spark("ml-train")
    table = features_table(args.copies)
    features, features_version = read_features(spark, args.as_of_version, args.copies)
    split = chosen_split(features, args.validation_from, args.test_from)
    rows = in_fixed_layout(model_input(features)).cache()
    parts = split_rows(rows, split)
    check_split(parts, split, table)
    train, validation, test = parts["train"], parts["validation"], parts["test"]
    history = train.unionByName(validation)
    progress(
        f"{table} version {features_version}: "
        + ", ".join(f"{name} {frame.count():,} flights ({split.describe(name)})" for name, frame in parts.items())
    )

    # The model: gradient-boosted trees, tuned on the validation period.
    gbt = GBTClassifier(labelCol="label", featuresCol="features", seed=SEED)
    grid = (
        ParamGridBuilder().addGrid(gbt.maxDepth, [3]).addGrid(gbt.maxIter, [10]).build()
        if args.quick
        else ParamGridBuilder().addGrid(gbt.maxDepth, [4, 6]).addGrid(gbt.maxIter, [40, 80]).build()
    )
    progress(f"tuning the GBT pipeline over {len(grid)} grid point(s) on the validation period")
    tuning = []
    train_preparation, train_prepared = prepared(train)
    for params in grid:
        candidate = with_preparation(train_preparation, gbt.fit(train_prepared, params))
        scored = evaluation.from_model(candidate.transform(validation))
        tuning.append((evaluation.metrics(scored, 0.5)["roc_auc"], params, scored))
        progress(
            f"  maxDepth={params[gbt.maxDepth]} maxIter={params[gbt.maxIter]}: validation ROC AUC {tuning[-1][0]:.4f}"
        )
    train_prepared.unpersist()
    best_auc, best_params, best_validation = max(tuning, key=lambda candidate: candidate[0])
    threshold = evaluation.best_threshold(best_validation)
    progress(f"refitting the best on the flights before {split.test_from}")
    history_preparation, history_prepared = prepared(history)
    model = with_preparation(history_preparation, gbt.fit(history_prepared, best_params))

    # The baselines, from the same flights the model learned from.
    progress("fitting the baselines")
    scaler = StandardScaler(inputCol="features", outputCol="standardized")
    logistic = LogisticRegression(labelCol="label", featuresCol="standardized", regParam=0.01)
    logistic_model = with_preparation(
        history_preparation, *Pipeline(stages=[scaler, logistic]).fit(history_prepared).stages
    )
    history_prepared.unpersist()
    base_rate = history.agg(F.avg("label")).first()[0]
    carrier_hour_rates = history.groupBy("carrier_code", "scheduled_hour_value").agg(
        F.avg("label").alias("carrier_hour_rate")
    )

    scored_test = {
        "GBT (tuned)": evaluation.from_model(model.transform(test)),
        "logistic regression": evaluation.from_model(logistic_model.transform(test)),
        "carrier x hour rate": evaluation.from_probability(
            test.join(carrier_hour_rates, ["carrier_code", "scheduled_hour_value"], "left"),
            F.coalesce(F.col("carrier_hour_rate"), F.lit(base_rate)),
        ),
        "base rate": evaluation.from_probability(test, F.lit(base_rate)),
    }
    progress("scoring the test period")
    results = {name: evaluation.metrics(scored, threshold) for name, scored in scored_test.items()}
    print(evaluation.format_table(results, threshold))
    progress("saving the model, its plots and its MLflow run")

    # Persist the model, its metadata and its plots; track the run in MLflow.
    version_dir = model_store.next_version_dir()
    plots_dir = version_dir / "plots"
    plots_dir.mkdir(parents=True)
    importances = readable_importances(model, scored_test["GBT (tuned)"])
    plot_paths = plots.curves_and_calibration(scored_test, plots_dir) + [
        plots.feature_importances(importances, plots_dir)
    ]
    metadata = {
        "model_version": version_dir.name,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "features_table": table,
        "copies": args.copies,
        "features_delta_version": features_version,
        "feature_columns": {"numeric": NUMERIC, "categorical": CATEGORICAL},
        "split": split.as_metadata(),
        "params": {"maxDepth": best_params[gbt.maxDepth], "maxIter": best_params[gbt.maxIter], "seed": SEED},
        "validation_roc_auc": best_auc,
        "threshold": threshold,
        "test_metrics": results,
        "git_commit": git_commit(),
        "versions": {"spark": spark.version, "delta-spark": package_version("delta-spark")},
    }
    model_store.save(model, metadata, version_dir)
    run_id = track(model, metadata, plot_paths)

    print(f"model {version_dir.name} saved to {version_dir} (plots in {plots_dir})")
    print(f"MLflow run {run_id}: mlflow ui --backend-store-uri {tracking_uri()}")
    return metadata


def track(model, metadata: dict, plot_paths: list[Path]) -> str:
    import mlflow
    import mlflow.spark

    with mlflow.start_run(experiment_id=use_project_store(), run_name=metadata["model_version"]) as active:
        mlflow.log_params(
            {
                **metadata["params"],
                "features_table": metadata["features_table"],
                "features_delta_version": metadata["features_delta_version"],
                "threshold": metadata["threshold"],
                **{f"split_{name}": value for name, value in metadata["split"].items()},
            }
        )
        for model_name, values in metadata["test_metrics"].items():
            prefix = "test" if model_name.startswith("GBT") else f"baseline_{model_name.split()[0].lower()}"
            mlflow.log_metrics({f"{prefix}_{metric}": value for metric, value in values.items()})
        for path in plot_paths:
            mlflow.log_artifact(str(path), artifact_path="plots")
        mlflow.log_dict(metadata, "metadata.json")
        mlflow.spark.log_model(
            model,
            artifact_path="model",
            pip_requirements=[f"pyspark=={package_version('pyspark')}"],
            dfs_tmpdir=str(tracking_dir() / "tmp"),
        )
        return active.info.run_id


if __name__ == "__main__":
    run(main)
