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
from datetime import date

from pyspark.ml import Pipeline
from pyspark.ml.classification import GBTClassifier
from pyspark.ml.feature import Imputer, OneHotEncoder, StringIndexer, VectorAssembler
from pyspark.ml.tuning import ParamGridBuilder

from lakehouse.entry import run
from lakehouse.ml import evaluation, training
from lakehouse.project import feature_roles
from lakehouse.spark import get_spark

SEED = 13


def preparation() -> Pipeline:
    """Impute numerics, index and one-hot encode categoricals (unseen values get their own slot), assemble."""
    roles = feature_roles()
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

    progress = training.Progress()
    spark = get_spark("ml-train")
    data = training.training_data(spark, args.copies, args.as_of_version, args.validation_from, args.test_from)
    progress(data.describe())

    # The model: gradient-boosted trees, tuned on the validation period.
    gbt = GBTClassifier(labelCol="label", featuresCol="features", seed=SEED)
    grid = (
        ParamGridBuilder().addGrid(gbt.maxDepth, [3]).addGrid(gbt.maxIter, [10]).build()
        if args.quick
        else ParamGridBuilder().addGrid(gbt.maxDepth, [4, 6]).addGrid(gbt.maxIter, [40, 80]).build()
    )
    progress(f"tuning the GBT pipeline over {len(grid)} grid point(s) on the validation period")
    tuned = training.tune(preparation(), gbt, grid, data, progress)
    progress(f"refitting the best, and the baselines, on the flights before {data.split.test_from}")
    model, baselines = training.refit(preparation(), gbt, tuned.param_map, data.history)

    # Evaluate once on the test period, against the baselines.
    progress("scoring the test period")
    scored_test = {training.MODEL_NAME: evaluation.from_model(model.transform(data.test))}
    scored_test.update({name: baseline(data.test) for name, baseline in baselines.items()})
    results = {name: evaluation.metrics(scored, tuned.threshold) for name, scored in scored_test.items()}
    print(evaluation.format_table(results, tuned.threshold))

    progress("saving the model, its plots and its MLflow run")
    return training.save(spark, model, data, tuned, scored_test, results)


if __name__ == "__main__":
    run(main)
