"""The pictures a person wants after training: ROC and precision-recall curves with the baselines, a calibration
curve and the GBT's feature importances. Curves are drawn from at most SAMPLE_ROWS scored rows; the metrics
themselves come from MLlib's evaluators on every row."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from pyspark.sql import DataFrame  # noqa: E402

from lakehouse.ml.evaluation import P_DELAYED, probability_bins  # noqa: E402

SAMPLE_ROWS = 200_000


def _sample(scored: DataFrame) -> tuple[np.ndarray, np.ndarray]:
    total = scored.count()
    fraction = min(1.0, SAMPLE_ROWS / max(total, 1))
    rows = scored.select("label", P_DELAYED).sample(fraction=fraction, seed=13).toPandas()
    return rows["label"].to_numpy(), rows[P_DELAYED].to_numpy()


def _curves(labels: np.ndarray, scores: np.ndarray) -> dict[str, np.ndarray]:
    """Points at every distinct score (tied scores move together, so a constant score is the diagonal)."""
    order = np.argsort(-scores, kind="stable")
    ranked, hits = scores[order], labels[order]
    last_of_each_score = np.r_[np.diff(ranked) != 0, True]
    true_positives = np.cumsum(hits)[last_of_each_score]
    false_positives = np.cumsum(1 - hits)[last_of_each_score]
    positives, negatives = max(hits.sum(), 1), max((1 - hits).sum(), 1)
    return {
        "fpr": np.concatenate([[0], false_positives / negatives]),
        "tpr": np.concatenate([[0], true_positives / positives]),
        "precision": true_positives / (true_positives + false_positives),
        "recall": true_positives / positives,
    }


def curves_and_calibration(scored_by_model: dict[str, DataFrame], plots_dir: Path) -> list[Path]:
    """ROC, precision-recall and calibration plots for every scored frame (the first is the model)."""
    samples = {name: _sample(scored) for name, scored in scored_by_model.items()}
    figures = {name: plt.subplots(figsize=(6, 5)) for name in ("roc", "precision_recall", "calibration")}
    for name, (labels, scores) in samples.items():
        curve = _curves(labels, scores)
        figures["roc"][1].plot(curve["fpr"], curve["tpr"], label=name)
        figures["precision_recall"][1].plot(curve["recall"], curve["precision"], label=name)
    figures["roc"][1].plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    figures["roc"][1].set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, test period")
    figures["precision_recall"][1].set(xlabel="recall", ylabel="precision", title="Precision-recall, test period")

    predicted, observed, _ = zip(*probability_bins(*next(iter(samples.values()))), strict=True)
    axis = figures["calibration"][1]
    axis.plot(predicted, observed, marker="o", label=next(iter(samples)))
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    axis.set(xlabel="predicted probability of delay", ylabel="observed delay rate", title="Calibration, test period")

    paths = []
    for name, (figure, axis) in figures.items():
        axis.legend(loc="best", fontsize="small")
        figure.tight_layout()
        paths.append(plots_dir / f"{name}.png")
        figure.savefig(paths[-1], dpi=110)
        plt.close(figure)
    return paths


def feature_importances(importances: dict[str, float], plots_dir: Path, top: int = 20) -> Path:
    ranked = sorted(importances.items(), key=lambda item: item[1])[-top:]
    figure, axis = plt.subplots(figsize=(7, 0.3 * len(ranked) + 1.2))
    axis.barh([name for name, _ in ranked], [value for _, value in ranked])
    axis.set(xlabel="importance (GBT, share of total)", title=f"Top {len(ranked)} features")
    figure.tight_layout()
    path = plots_dir / "feature_importances.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
