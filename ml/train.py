"""
Train, evaluate and save the flight-delay model: a Spark ML pipeline on features.flight_features, its trees
MLlib's GBT or XGBoost's (xgboost.spark, on the same Spark), whichever the validation months say is better.

The split follows time, never chance: a random split would let a day's congestion history leak between
training and test rows. Test on the last two calendar months of the table's timeline, tune on the month before,
train on everything earlier; then refit on training and tuning months together and test once. On the year:
train January-September, tune October, test November-December; on K copies of it, the same at the end of the
last copy. A logistic regression pipeline and two rates from the training period (the overall delay rate, and
the rate by carrier x scheduled hour) are the baselines.

Run with:
    python ml/train.py [--copies K] [--as-of-version N] [--validation-from DATE] [--test-from DATE]
                       [--estimator GBT|XGBoost] [--quick]
"""

import argparse
from datetime import date

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import GBTClassifier
from pyspark.ml.feature import Imputer, OneHotEncoder, StringIndexer, VectorAssembler
from pyspark.ml.tuning import ParamGridBuilder
from pyspark.sql import SparkSession
from xgboost.spark import SparkXGBClassifier

from lakehouse.entry import run
from lakehouse.ml import evaluation, model_store, training
from lakehouse.project import FeatureRoles, feature_roles
from lakehouse.spark import get_spark

SEED = 13
GBT, XGBOOST = "GBT", "XGBoost"


def preparation(roles: FeatureRoles | None = None) -> Pipeline:
    """Impute numerics, index and one-hot encode categoricals (unseen values get their own slot), assemble: the
    features of the yml's roles (or of these)."""
    roles = roles or feature_roles()
    imputer = Imputer(inputCols=roles.numeric_inputs, outputCols=roles.numeric, strategy="median")
    indexer = StringIndexer(
        inputCols=roles.categorical, outputCols=[f"{name}_index" for name in roles.categorical], handleInvalid="keep"
    )
    encoder = OneHotEncoder(
        inputCols=indexer.getOutputCols(), outputCols=[f"{name}_is" for name in roles.categorical], handleInvalid="keep"
    )
    assembler = VectorAssembler(inputCols=roles.numeric + encoder.getOutputCols(), outputCol="features")
    return Pipeline(stages=[imputer, indexer, encoder, assembler])


def build_pipeline(classifier) -> Pipeline:
    """The preparation, then the classifier."""
    return Pipeline(stages=[*preparation().getStages(), classifier])


def candidates(quick: bool, only: str | None) -> dict[str, tuple]:
    """The classifiers the validation months choose between, each with its grid: MLlib's gradient-boosted trees,
    and XGBoost's, distributed over the same Spark (xgboost.spark, one worker per core or executor)."""
    workers = SparkSession.getActiveSession().sparkContext.defaultParallelism
    model_store.quiet_xgboost()
    gbt = GBTClassifier(labelCol="label", featuresCol="features", subsamplingRate=0.8, seed=SEED)
    xgb = SparkXGBClassifier(
        label_col="label",
        features_col="features",
        num_workers=workers,
        learning_rate=0.05,
        subsample=0.8,
        colsample_bytree=0.8,
        min_child_weight=5,
        random_state=SEED,
        verbose=False,
    )
    if quick:
        grids = {
            GBT: ParamGridBuilder().addGrid(gbt.maxDepth, [3]).addGrid(gbt.maxIter, [10]).build(),
            XGBOOST: ParamGridBuilder().addGrid(xgb.max_depth, [3]).addGrid(xgb.n_estimators, [10]).build(),
        }
    else:
        grids = {
            GBT: ParamGridBuilder().addGrid(gbt.maxDepth, [6]).addGrid(gbt.maxIter, [80, 160]).build(),
            XGBOOST: ParamGridBuilder().addGrid(xgb.max_depth, [6, 8]).addGrid(xgb.n_estimators, [150, 300]).build(),
        }
    classifiers = {GBT: gbt, XGBOOST: xgb}
    return {name: (classifiers[name], grid) for name, grid in grids.items() if only in (None, name)}


def fit(
    data: training.TrainingData,
    quick: bool,
    progress: training.Progress,
    with_baselines: bool = True,
    only: str | None = None,
) -> tuple[PipelineModel, training.Tuned, dict]:
    """The model: each candidate tuned on the validation period, the best refitted on training and validation
    periods together; and the baselines, fitted on the same flights."""
    training.checkpoint_lineage(SparkSession.getActiveSession())
    chosen_from = candidates(quick, only)
    points = sum(len(grid) for _, grid in chosen_from.values())
    progress(f"tuning {' and '.join(chosen_from)} over {points} grid point(s) on the validation period")
    tuned = training.tune(preparation(), chosen_from, data, progress)
    also = ", and the baselines," if with_baselines else ""
    progress(f"refitting {tuned.estimator}{also} on the flights before {data.split.test_from}")
    model, baselines = training.refit(preparation(), tuned.classifier, tuned.param_map, data.history, with_baselines)
    return model, tuned, baselines


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--as-of-version", type=int, help="train on this Delta version of flight_features")
    parser.add_argument("--validation-from", type=date.fromisoformat, help="first day tuned on (YYYY-MM-DD)")
    parser.add_argument("--test-from", type=date.fromisoformat, help="first day tested on (YYYY-MM-DD)")
    parser.add_argument(
        "--copies", type=int, help="train on the K-copies build (`dbt build --vars '{copies: K}'`) instead of the year"
    )
    parser.add_argument(
        "--estimator", choices=[GBT, XGBOOST], help="tune only this one (default: the validation months choose)"
    )
    parser.add_argument("--quick", action="store_true", help="a one-point grid with few trees, for smoke tests")
    args = parser.parse_args(argv)

    progress = training.Progress()
    spark = get_spark("ml-train")
    data = training.training_data(spark, args.copies, args.as_of_version, args.validation_from, args.test_from)
    progress(data.describe())
    model, tuned, baselines = fit(data, args.quick, progress, only=args.estimator)

    # Evaluate once on the test period, against the baselines.
    progress("scoring the test period")
    scored_test = {model_store.model_label(tuned.estimator): evaluation.from_model(model.transform(data.test))}
    scored_test.update({name: baseline(data.test) for name, baseline in baselines.items()})
    test_scores = {name: evaluation.scores(scored) for name, scored in scored_test.items()}
    results = {name: evaluation.metrics(scores, tuned.threshold) for name, scores in test_scores.items()}
    print(evaluation.format_table(results, tuned.threshold))

    progress("saving the model, its plots and its MLflow run")
    return training.save(spark, model, data, tuned, test_scores, results)


if __name__ == "__main__":
    run(main)
