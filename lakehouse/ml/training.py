"""What ml/train.py does around fitting: the split it learns on, the tuning loop, the baselines it must beat,
and saving the model with what it learned from (the model store, its plots, an MLflow run)."""

import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib.metadata import version as package_version
from pathlib import Path

from pyspark import StorageLevel
from pyspark.ml import Estimator, Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import StandardScaler
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.errors import LakehouseError
from lakehouse.ml import evaluation, model_card, model_store, plots
from lakehouse.ml.features import (
    Split,
    features_table,
    in_fixed_layout,
    last_flight_date,
    model_input,
    month_start,
    prediction_lead_minutes,
    read_features,
    split_rows,
)
from lakehouse.ml.tracking import tracking_uri, use_project_store
from lakehouse.paths import PROJECT_ROOT, scratch_dir, tracking_dir
from lakehouse.project import FEATURES_MODEL, FeatureRoles, feature_roles, model_checksum, project_vars


class Progress:
    """Each stage's line, with the seconds since training started."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.0f} s] {message}", flush=True)


@dataclass
class TrainingData:
    """The feature table at one Delta version, split in time into the three periods, checked."""

    table: str
    copies: int | None
    version: int
    split: Split
    prediction_lead_minutes: int
    train: DataFrame
    validation: DataFrame
    test: DataFrame

    @property
    def history(self) -> DataFrame:
        """Training and validation months together: what the chosen model is refitted on."""
        return self.train.unionByName(self.validation)

    def describe(self) -> str:
        parts = {"train": self.train, "validation": self.validation, "test": self.test}
        counts = ", ".join(
            f"{name} {rows.count():,} flights ({self.split.describe(name)})" for name, rows in parts.items()
        )
        lead = f"features taken {self.prediction_lead_minutes} minutes before the scheduled departure"
        return f"{self.table} version {self.version} ({lead}): {counts}"


def training_data(
    spark: SparkSession,
    copies: int | None,
    as_of_version: int | None,
    validation_from: date | None,
    test_from: date | None,
) -> TrainingData:
    features, version = read_features(spark, as_of_version, copies)
    return split_data(
        features, features_table(copies), copies, version, chosen_split(features, validation_from, test_from)
    )


def split_data(
    features: DataFrame, table: str, copies: int | None, version: int, split: Split, roles: FeatureRoles | None = None
) -> TrainingData:
    """flight_features rows (the table at a version, or an export of it) as the model reads them (the yml's roles,
    or these), cut in time."""
    rows = in_fixed_layout(model_input(features, roles)).cache()
    parts = split_rows(rows, split)
    check_split(parts, split, table)
    lead = prediction_lead_minutes(features, table)
    return TrainingData(table, copies, version, split, lead, parts["train"], parts["validation"], parts["test"])


def chosen_split(features: DataFrame, validation_from: date | None, test_from: date | None) -> Split:
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


def check_split(parts: dict[str, DataFrame], split: Split, table: str) -> None:
    for name, rows in parts.items():
        classes = {row["label"] for row in rows.select("label").distinct().collect()}
        if not classes:
            raise LakehouseError(f"no {table} rows in the {name} period {split.describe(name)}: pick other cut-offs")
        if len(classes) < 2:
            raise LakehouseError(
                f"the {name} period {split.describe(name)} holds only"
                f" {'delayed' if 1.0 in classes else 'on-time'} flights: pick other cut-offs"
            )


def checkpoint_lineage(spark: SparkSession) -> None:
    """A checkpoint folder for MLlib's GBT, which then cuts its lineage every 10 trees (checkpointInterval);
    without one, each tree's plan holds every tree before it, and at 160 trees serializing a task can
    overflow the stack (java.lang.StackOverflowError)."""
    spark.sparkContext.setCheckpointDir(str(scratch_dir() / "checkpoints"))


def prepared(preparation: Pipeline, rows: DataFrame) -> tuple[PipelineModel, DataFrame]:
    """The preparation fitted on these rows, and the rows as a classifier reads them, cached. A GBT passes over
    its input three times before its first tree (metadata, candidate splits, binning), a logistic regression
    twice, and re-running the preparation for each pass cost more than the trees themselves (K=30)."""
    fitted = preparation.fit(rows)
    return fitted, fitted.transform(rows).select("label", "features").persist(StorageLevel.MEMORY_AND_DISK)


def with_preparation(fitted: PipelineModel, *models) -> PipelineModel:
    """One pipeline model, raw features in, probability out: what the store keeps and scoring runs."""
    return PipelineModel(stages=[*fitted.stages, *models])


@dataclass(frozen=True)
class Tuned:
    estimator: str  # the candidate that won, by name
    classifier: Estimator
    param_map: dict  # the chosen grid point, as Estimator.fit takes it
    params: dict[str, object]  # the same by name, with the seed: what the metadata records
    validation_roc_auc: float
    threshold: float  # the best F1 on the validation period


def tune(
    preparation: Pipeline, candidates: dict[str, tuple[Estimator, list[dict]]], data: TrainingData, progress: Progress
) -> Tuned:
    """Each candidate classifier at each point of its grid fitted on the training months and scored on the
    validation months; the best ROC AUC wins.

    Not MLlib's CrossValidator or TrainValidationSplit: both split at random (trainRatio, folds), so they would
    tune on flights that left before some of those they learned from; here training always precedes tuning.
    """
    fitted, rows = prepared(preparation, data.train)
    best, evaluated = None, []
    for estimator, (classifier, grid) in candidates.items():
        for params in grid:
            started = time.monotonic()
            model = classifier.fit(rows, params)
            seconds = time.monotonic() - started
            predictions = with_preparation(fitted, model).transform(data.validation)
            scored = evaluation.scores(evaluation.from_model(predictions))
            evaluated.append(scored)
            auc = evaluation.roc_auc(scored)
            point = ", ".join(f"{param.name}={value}" for param, value in params.items())
            progress(f"  {estimator}, {point}: validation ROC AUC {auc:.4f} (fitted in {seconds:.0f} s)")
            if best is None or auc > best[0]:
                best = (auc, estimator, classifier, params, scored)
    rows.unpersist()
    auc, estimator, classifier, params, scored = best
    seed = next(classifier.getParam(name) for name in ("seed", "random_state") if classifier.hasParam(name))
    by_name = {**{param.name: value for param, value in params.items()}, seed.name: classifier.getOrDefault(seed)}
    threshold = evaluation.best_threshold(scored)
    for candidate in evaluated:
        candidate.unpersist()
    return Tuned(estimator, classifier, params, by_name, auc, threshold)


def refit(
    preparation: Pipeline, classifier: Estimator, params: dict, history: DataFrame, with_baselines: bool = True
) -> tuple[PipelineModel, dict]:
    """The classifier with these params on the training and validation months, and (unless told not to) the
    baselines from the same flights: a logistic regression on the standardized features, the carrier x hour rate
    and the base rate."""
    fitted, rows = prepared(preparation, history)
    model = with_preparation(fitted, classifier.fit(rows, params))
    if not with_baselines:
        rows.unpersist()
        return model, {}
    scaler = StandardScaler(inputCol="features", outputCol="standardized")
    logistic = LogisticRegression(labelCol="label", featuresCol="standardized", regParam=0.01)
    logistic_model = with_preparation(fitted, *Pipeline(stages=[scaler, logistic]).fit(rows).stages)
    rows.unpersist()
    base_rate = history.agg(F.avg("label")).first()[0]
    carrier_hour_rates = history.groupBy("carrier_code", "scheduled_hour_value").agg(
        F.avg("label").alias("carrier_hour_rate")
    )
    baselines = {
        "logistic regression": lambda test: evaluation.from_model(logistic_model.transform(test)),
        "carrier x hour rate": lambda test: evaluation.from_probability(
            test.join(carrier_hour_rates, ["carrier_code", "scheduled_hour_value"], "left"),
            F.coalesce(F.col("carrier_hour_rate"), F.lit(base_rate)),
        ),
        "base rate": lambda test: evaluation.from_probability(test, F.lit(base_rate)),
    }
    return model, baselines


def readable_importances(model: PipelineModel, rows: DataFrame) -> dict[str, float]:
    """The trees' importances, as shares of their total, keyed by 'carrier_code = UA' rather than vector slots:
    MLlib's (featureImportances) or XGBoost's (the total gain of each feature's splits)."""
    attributes = model.transform(rows).schema["features"].metadata["ml_attr"]["attrs"]  # the plan's, no job run
    names = {attr["idx"]: attr["name"].replace("_is_", " = ") for group in attributes.values() for attr in group}
    classifier = model.stages[-1]
    if hasattr(classifier, "featureImportances"):
        vector = classifier.featureImportances
        by_slot = {index: float(vector[index]) for index in range(vector.size)}
    else:  # XGBoost names a vector's slots f0, f1, ...
        gains = classifier.get_booster().get_score(importance_type="total_gain")
        by_slot = {int(slot[1:]): gain / sum(gains.values()) for slot, gain in gains.items()}
    return {names[index]: share for index, share in by_slot.items() if share > 0}


def save(
    spark: SparkSession, model: PipelineModel, data: TrainingData, tuned: Tuned, test_scores: dict, results: dict
) -> dict:
    """The model, its metadata and its plots in the model store, and its MLflow run; returns the metadata.
    test_scores: each model's and baseline's evaluation.scores() on the test period, the model's first."""
    version_dir = model_store.next_version_dir()
    plots_dir = version_dir / "plots"
    plots_dir.mkdir(parents=True)
    importances = readable_importances(model, data.test)
    plot_paths = plots.curves_and_calibration(test_scores, plots_dir) + [
        plots.feature_importances(importances, plots_dir)
    ]
    metadata = {
        "model_version": version_dir.name,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "features_table": data.table,
        "copies": data.copies,
        "features_delta_version": data.version,
        "feature_columns": feature_roles().as_metadata(),
        # What the dbt project said when the model was trained: the features model's SQL and the project's vars.
        "dbt": {"flight_features_checksum": model_checksum(FEATURES_MODEL, data.copies), "vars": project_vars()},
        "split": data.split.as_metadata(),
        "prediction_lead_minutes": data.prediction_lead_minutes,
        "estimator": tuned.estimator,
        "params": tuned.params,
        "validation_roc_auc": tuned.validation_roc_auc,
        "threshold": tuned.threshold,
        "test_metrics": results,
        "git_commit": git_commit(),
        "versions": {"spark": spark.version, "delta-spark": package_version("delta-spark")},
    }
    metadata["calibration_by_decile"] = evaluation.calibration_by_decile(
        test_scores[model_store.model_label(tuned.estimator)]
    )
    metadata["online"] = online_export(model, metadata, version_dir)
    card = model_card.write(metadata, version_dir)
    model_store.save(model, metadata, version_dir)
    run_id = track(model, metadata, plot_paths, card)
    print(f"model {version_dir.name} saved to {version_dir} (plots in {plots_dir})")
    print(f"MLflow run {run_id}: mlflow ui --backend-store-uri {tracking_uri()}")
    return metadata


def online_export(model: PipelineModel, metadata: dict, version_dir: Path) -> dict:
    """The model as ONNX for `lakehouse serve`, before the metadata that makes the version complete; what the
    metadata records of it. A classifier the export cannot write is refused here (UnservableModel), before the
    version is saved, not found out when the service starts."""
    from lakehouse.ml import onnx_export

    path = onnx_export.export(model, metadata["feature_columns"], version_dir / model_store.ONNX_FILE)
    return {"file": path.name, "runtime": f"onnxruntime {package_version('onnxruntime')}"}


def git_commit() -> str | None:
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    return result.stdout.strip() or None


def track(model: PipelineModel, metadata: dict, plot_paths: list[Path], card: Path) -> str:
    """The MLflow run: parameters, test metrics, the plots (under plots/), the model card and the Spark model."""
    import mlflow
    import mlflow.spark

    with mlflow.start_run(experiment_id=use_project_store(), run_name=metadata["model_version"]) as active:
        mlflow.log_params(
            {
                **metadata["params"],
                "estimator": metadata["estimator"],
                "features_table": metadata["features_table"],
                "features_delta_version": metadata["features_delta_version"],
                "threshold": metadata["threshold"],
                **{f"split_{name}": value for name, value in metadata["split"].items()},
            }
        )
        for model_name, values in metadata["test_metrics"].items():
            prefix = (
                "test"
                if model_name == model_store.model_label(metadata["estimator"])
                else f"baseline_{model_name.split()[0].lower()}"
            )
            mlflow.log_metrics({f"{prefix}_{metric}": value for metric, value in values.items()})
        for path in plot_paths:
            mlflow.log_artifact(str(path), artifact_path="plots")
        mlflow.log_artifact(str(card))
        mlflow.log_dict(metadata, "metadata.json")
        mlflow.spark.log_model(
            model,
            artifact_path="model",
            pip_requirements=[f"pyspark=={package_version('pyspark')}"],
            dfs_tmpdir=str(tracking_dir() / "tmp"),
        )
        return active.info.run_id
