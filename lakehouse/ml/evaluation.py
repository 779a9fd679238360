"""Scoring a delay model the same way for the model and its baselines: MLlib's evaluator for the areas under the
ROC and precision-recall curves; log loss, the Brier score, precision and recall in one aggregation (the
definitions of MLlib's MulticlassClassificationEvaluator, without a pass over the rows for each); the threshold
sweep, which MLlib does not offer, in another."""

import numpy as np
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

P_DELAYED = "p_delayed"
CANDIDATE_THRESHOLDS = [step / 100 for step in range(5, 96)]
PROBABILITY_BINS = 10
# Log loss clips the probability of the outcome to [EPSILON, 1 - EPSILON], as MLlib and scikit-learn do.
EPSILON = 1e-15


def probability_bins(labels: np.ndarray, p: np.ndarray) -> list[tuple[float, float, float]]:
    """(mean predicted, observed delay rate, share of the rows) of each equal-width probability bin (0-0.1, ...,
    0.9-1) that holds a row: the points of a calibration plot, from scores in memory."""
    bins = np.clip((p * PROBABILITY_BINS).astype(int), 0, PROBABILITY_BINS - 1)
    return [
        (float(p[bins == b].mean()), float(labels[bins == b].mean()), float((bins == b).mean()))
        for b in range(PROBABILITY_BINS)
        if (bins == b).any()
    ]


def from_model(predictions: DataFrame) -> DataFrame:
    """A fitted pipeline's output with the delay probability as a plain column."""
    return predictions.withColumn(P_DELAYED, vector_to_array("probability")[1])


def from_probability(rows: DataFrame, p_delayed) -> DataFrame:
    """Rows scored by a baseline's probability, shaped like a model's output."""
    return rows.withColumn(P_DELAYED, p_delayed.cast("double")).withColumn(
        "probability", array_to_vector(F.array(1 - F.col(P_DELAYED), F.col(P_DELAYED)))
    )


def best_threshold(scored: DataFrame) -> float:
    """The probability cut-off with the best F1 (2·TP / (predicted + actual positives)) on these rows."""
    positive = F.col("label") == 1.0
    totals = scored.agg(
        F.sum(positive.cast("int")).alias("actual"),
        *[
            F.sum(((F.col(P_DELAYED) >= t) & positive).cast("int")).alias(f"tp_{i}")
            for i, t in enumerate(CANDIDATE_THRESHOLDS)
        ],
        *[F.sum((F.col(P_DELAYED) >= t).cast("int")).alias(f"pp_{i}") for i, t in enumerate(CANDIDATE_THRESHOLDS)],
    ).first()
    f1 = {
        t: 2 * totals[f"tp_{i}"] / (totals[f"pp_{i}"] + totals["actual"])
        for i, t in enumerate(CANDIDATE_THRESHOLDS)
        if totals[f"pp_{i}"] + totals["actual"] > 0
    }
    return max(f1, key=f1.get)


def _binary() -> BinaryClassificationEvaluator:
    # numBins=0: exact areas; down-sampled curves depend on how rows fall into partitions.
    return BinaryClassificationEvaluator(rawPredictionCol=P_DELAYED, numBins=0)


def roc_auc(scored: DataFrame) -> float:
    """The one metric tuning compares, alone (metrics() computes all of them, at a threshold)."""
    return _binary().evaluate(scored, {_binary().metricName: "areaUnderROC"})


def scores(scored: DataFrame) -> DataFrame:
    """The delay probability and the label of scored rows, cached: what every metric, the calibration table and
    the plots read, so that the rows are scored once and only two numbers a row are kept."""
    columns = [F.col(name).cast("double").alias(name) for name in (P_DELAYED, "label")]
    return scored.select(*columns).cache()


def metrics(rows: DataFrame, threshold: float) -> dict[str, float]:
    p, delayed = F.col(P_DELAYED), F.col("label") == 1.0
    p_of_outcome = F.least(F.greatest(F.when(delayed, p).otherwise(1 - p), F.lit(EPSILON)), F.lit(1 - EPSILON))
    predicted = p >= threshold
    totals = rows.agg(
        F.avg(-F.log(p_of_outcome)).alias("log_loss"),
        F.avg((p - F.col("label")) ** 2).alias("brier"),
        F.avg("label").alias("base_rate"),
        F.sum((predicted & delayed).cast("long")).alias("true_positives"),
        F.sum(predicted.cast("long")).alias("predicted"),
        F.sum(delayed.cast("long")).alias("delayed"),
    ).first()
    binary = _binary()
    return {
        "roc_auc": binary.evaluate(rows, {binary.metricName: "areaUnderROC"}),
        "pr_auc": binary.evaluate(rows, {binary.metricName: "areaUnderPR"}),
        "log_loss": totals["log_loss"],
        "brier": totals["brier"],
        "base_rate": totals["base_rate"],
        # As MLlib's precisionByLabel and recallByLabel: 0 when no flight is predicted delayed, or none is.
        "precision": totals["true_positives"] / totals["predicted"] if totals["predicted"] else 0.0,
        "recall": totals["true_positives"] / totals["delayed"] if totals["delayed"] else 0.0,
    }


def format_table(rows: dict[str, dict[str, float]], threshold: float) -> str:
    columns = ["roc_auc", "pr_auc", "log_loss", "brier", "precision", "recall"]
    lines = [f"{'model':<28}" + "".join(f"{name:>10}" for name in columns)]
    for name, values in rows.items():
        lines.append(f"{name:<28}" + "".join(f"{values[column]:>10.4f}" for column in columns))
    lines.append(f"(precision and recall at p >= {threshold:.2f}, the best-F1 threshold on the validation period)")
    return "\n".join(lines)


def calibration_by_decile(scored: DataFrame) -> list[dict[str, float]]:
    """The scored rows in up to ten groups of about equal count by probability (MLlib's QuantileDiscretizer;
    tied probabilities stay in one group), each with its flights, mean predicted probability and observed delay
    rate: what a planner reading "40%" needs to trust it."""
    from pyspark.ml.feature import QuantileDiscretizer

    buckets = QuantileDiscretizer(numBuckets=10, inputCol=P_DELAYED, outputCol="decile", relativeError=0.0001)
    grouped = (
        buckets.fit(scored)
        .transform(scored)
        .groupBy("decile")
        .agg(F.count("*").alias("flights"), F.avg(P_DELAYED).alias("predicted"), F.avg("label").alias("observed"))
        .orderBy("decile")
    )
    return [
        {"flights": row["flights"], "predicted": row["predicted"], "observed": row["observed"]}
        for row in grouped.collect()
    ]
