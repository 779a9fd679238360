"""
Train, evaluate and save the flight-delay model: a Spark MLlib GBT pipeline on features.flight_features.

The split follows the calendar, never chance: a random split would let a day's congestion history leak between
training and test rows. Train on January-September, tune on October, then refit on January-October and test
once on November-December. A logistic regression pipeline and two rates from the training months (the overall
delay rate, and the rate by carrier x scheduled hour) are the baselines.

Run with:
    python ml/train.py [--as-of-version N] [--quick]
"""

import argparse
import json
import subprocess
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path

from pyspark.ml import Pipeline
from pyspark.ml.classification import GBTClassifier, LogisticRegression
from pyspark.ml.feature import Imputer, OneHotEncoder, StandardScaler, StringIndexer, VectorAssembler
from pyspark.ml.tuning import ParamGridBuilder
from pyspark.sql import functions as F

from lakehouse import evaluation, model_store, plots
from lakehouse.cli import run
from lakehouse.errors import LakehouseError
from lakehouse.features import (
    CATEGORICAL,
    NUMERIC,
    features_table,
    in_fixed_layout,
    in_months,
    model_input,
    parse_months,
    read_features,
)
from lakehouse.paths import PROJECT_ROOT
from lakehouse.spark import get_spark
from lakehouse.tracking import tracking_dir, tracking_uri, use_project_store

SEED = 13


def build_pipeline(classifier, standardize: bool = False) -> Pipeline:
    """Impute numerics, index and one-hot encode categoricals (unseen values get their own slot), assemble,
    optionally standardize (for linear models), classify."""
    imputer = Imputer(inputCols=[f"{name}_value" for name in NUMERIC], outputCols=NUMERIC, strategy="median")
    indexer = StringIndexer(
        inputCols=CATEGORICAL, outputCols=[f"{name}_index" for name in CATEGORICAL], handleInvalid="keep"
    )
    encoder = OneHotEncoder(
        inputCols=indexer.getOutputCols(), outputCols=[f"{name}_is" for name in CATEGORICAL], handleInvalid="keep"
    )
    assembler = VectorAssembler(
        inputCols=NUMERIC + encoder.getOutputCols(), outputCol="assembled" if standardize else "features"
    )
    scaler = [StandardScaler(inputCol="assembled", outputCol="features")] if standardize else []
    return Pipeline(stages=[imputer, indexer, encoder, assembler, *scaler, classifier])


def check_split(split: dict, months: dict, table: str) -> None:
    for name, rows in split.items():
        classes = {row["label"] for row in rows.select("label").distinct().collect()}
        if not classes:
            raise LakehouseError(f"no {table} rows in the {name} months {months[name]}: pick months with flights")
        if len(classes) < 2:
            raise LakehouseError(
                f"the {name} months {months[name]} hold only {'delayed' if 1.0 in classes else 'on-time'} flights:"
                " pick months with both"
            )


def readable_importances(model, scored) -> dict[str, float]:
    """GBT importances keyed by 'carrier_code = UA' rather than vector slots."""
    attributes = scored.schema["features"].metadata["ml_attr"]["attrs"]
    names = {attr["idx"]: attr["name"].replace("_is_", " = ") for group in attributes.values() for attr in group}
    importances = model.stages[-1].featureImportances
    return {names[index]: float(importances[index]) for index in range(importances.size) if importances[index] > 0}


def git_commit() -> str | None:
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    return result.stdout.strip() or None


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--as-of-version", type=int, help="train on this Delta version of flight_features")
    parser.add_argument("--train-months", type=parse_months, default=parse_months("1-9"))
    parser.add_argument("--validation-months", type=parse_months, default=parse_months("10"))
    parser.add_argument("--test-months", type=parse_months, default=parse_months("11-12"))
    parser.add_argument(
        "--copies", type=int, help="train on the K-copies build (`dbt build --vars '{copies: K}'`) instead of the year"
    )
    parser.add_argument("--quick", action="store_true", help="a one-point grid with few trees, for smoke tests")
    args = parser.parse_args(argv)
    months = {"train": args.train_months, "validation": args.validation_months, "test": args.test_months}

    spark = get_spark("ml-train")
    table = features_table(args.copies)
    features, features_version = read_features(spark, args.as_of_version, args.copies)
    rows = in_fixed_layout(model_input(features)).cache()
    split = {name: in_months(rows, month_list) for name, month_list in months.items()}
    check_split(split, months, table)
    train, validation, test = split["train"], split["validation"], split["test"]
    history = train.unionByName(validation)
    print(
        f"{table} version {features_version}: "
        + ", ".join(f"{name} {frame.count():,} flights (months {months[name]})" for name, frame in split.items())
    )

    # The model: gradient-boosted trees, tuned on the validation months.
    gbt = GBTClassifier(labelCol="label", featuresCol="features", seed=SEED)
    gbt_pipeline = build_pipeline(gbt)
    grid = (
        ParamGridBuilder().addGrid(gbt.maxDepth, [3]).addGrid(gbt.maxIter, [10]).build()
        if args.quick
        else ParamGridBuilder().addGrid(gbt.maxDepth, [4, 6]).addGrid(gbt.maxIter, [40, 80]).build()
    )
    print(f"tuning the GBT pipeline over {len(grid)} grid point(s) on the validation months", flush=True)
    tuning = []
    for params in grid:
        candidate = gbt_pipeline.fit(train, params)
        scored = evaluation.from_model(candidate.transform(validation))
        tuning.append((evaluation.metrics(scored, 0.5)["roc_auc"], params, scored))
        print(
            f"  maxDepth={params[gbt.maxDepth]} maxIter={params[gbt.maxIter]}: validation ROC AUC {tuning[-1][0]:.4f}"
        )
    best_auc, best_params, best_validation = max(tuning, key=lambda candidate: candidate[0])
    threshold = evaluation.best_threshold(best_validation)
    print(f"refitting the best on months {sorted(set(months['train'] + months['validation']))}", flush=True)
    model = gbt_pipeline.fit(history, best_params)

    # The baselines, from the same months the model learned from.
    print("fitting the baselines, then scoring the test months", flush=True)
    logistic = build_pipeline(LogisticRegression(labelCol="label", regParam=0.01), standardize=True)
    logistic_model = logistic.fit(history)
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
    results = {name: evaluation.metrics(scored, threshold) for name, scored in scored_test.items()}
    print(evaluation.format_table(results, threshold))

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
        "features_delta_version": features_version,
        "feature_columns": {"numeric": NUMERIC, "categorical": CATEGORICAL},
        "months": months,
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
                **{f"{name}_months": json.dumps(months) for name, months in metadata["months"].items()},
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
