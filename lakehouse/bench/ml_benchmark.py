"""The model benchmark: our MLlib pipeline against scikit-learn and XGBoost, on the same features and split.

    lakehouse bench-ml [--tools ours mllib-gbt sklearn xgboost] [--ablation] [--timeout 1800] [--memory-limit-gb 20]
                       [--validation-from DATE] [--test-from DATE] [--quick]

flight_features (the year, at its current Delta version) is exported once to Parquet with ml/train.py's time
split (train January-September, tune October, test November-December; --validation-from and --test-from
move it as they move ml/train.py's), untimed. Then each tool, in its own
process, one at a time, tunes on the validation months only, refits on training and validation months and
scores the test months: ours (benchmarks/spark_ml_model.py: ml/train.py's fit, where the validation months
choose between MLlib's GBT and XGBoost on Spark), ours with MLlib's GBT alone, scikit-learn (sklearn_model.py)
and plain XGBoost (xgboost_model.py). The same code scores
every tool's test scores: ROC AUC, PR AUC, log loss, Brier score, and calibration (the largest gap between a
probability decile's mean prediction and its observed delay rate). Fit seconds are each tool's own (tuning and
refit, not reading); wall seconds and the peak resident memory of the process tree (a JVM included) are
measured from outside, as `lakehouse bench` does. --ablation then refits our pipeline, with the chosen
estimator and params, without each group of features and prints each validation ROC AUC. Results, logs,
scores and the ROC curves side by side land in <LAKEHOUSE_HOME>/bench/ml/: results.json, logs/, out/,
roc.png.
"""

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from lakehouse.bench.benchmark import GB, measure, untimed
from lakehouse.errors import LakehouseError
from lakehouse.ml.evaluation import P_DELAYED, probability_bins
from lakehouse.paths import bench_dir

OURS = "ours"
# tool: (its label, the module that runs it, its arguments)
TOOLS = {
    OURS: ("ml/train.py's pipeline (ours)", "benchmarks.spark_ml_model", []),
    "mllib-gbt": ("ours, MLlib GBT only", "benchmarks.spark_ml_model", ["--estimator", "GBT"]),
    "sklearn": ("scikit-learn HistGradientBoosting", "benchmarks.sklearn_model", []),
    "xgboost": ("XGBoost (plain Python API)", "benchmarks.xgboost_model", []),
}


@dataclass
class ModelRun:
    tool: str
    status: str
    wall_seconds: float | None = None
    peak_gb: float | None = None
    fit_seconds: float | None = None
    params: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    detail: str = ""


def ml_bench_dir() -> Path:
    return bench_dir() / "ml"


def export_dir() -> Path:
    return ml_bench_dir() / "export"


def scores_path(tool: str) -> Path:
    return ml_bench_dir() / "out" / f"{tool}.parquet"


def export(directory: Path, validation_from: date | None, test_from: date | None) -> None:
    """flight_features as every tool reads it, and ml/train.py's split of it (run in its own process: a tool's
    Spark session must find the metastore free)."""
    from lakehouse.ml.features import read_features
    from lakehouse.ml.training import chosen_split
    from lakehouse.project import feature_roles
    from lakehouse.spark import get_spark

    roles = feature_roles()
    features, version = read_features(get_spark("bench-ml-export"))
    split = chosen_split(features, validation_from, test_from)
    columns = [roles.key, roles.split_time, roles.scheduled_time, roles.as_of, *roles.categorical, *roles.numeric]
    columns += [*roles.tried, roles.label]
    features.select(*columns).coalesce(1).write.mode("overwrite").parquet(str(directory / "features.parquet"))
    (directory / "split.json").write_text(json.dumps(split.as_metadata(), indent=2))
    (directory / "source.json").write_text(json.dumps({"features_delta_version": version}))
    print(f"flight_features version {version} exported to {directory}; split {split.as_metadata()}")


def metrics(scores: pd.DataFrame) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

    labels, p = scores["label"].to_numpy(), scores[P_DELAYED].to_numpy()
    return {
        "roc_auc": roc_auc_score(labels, p),
        "pr_auc": average_precision_score(labels, p),
        "log_loss": log_loss(labels, np.clip(p, 1e-15, 1 - 1e-15)),
        "brier": brier_score_loss(labels, p),
        "calibration_gap": calibration_gap(labels, p),
    }


def calibration_gap(labels: np.ndarray, p: np.ndarray) -> float:
    """The largest |mean prediction - observed rate| over the probability deciles (0-0.1, ..., 0.9-1) that hold
    at least 1% of the rows."""
    return max(abs(predicted - observed) for predicted, observed, share in probability_bins(labels, p) if share >= 0.01)


def run_tool(tool: str, timeout: float, memory_limit: float, quick: bool) -> ModelRun:
    _, module, arguments = TOOLS[tool]
    argv = [sys.executable, "-m", module, str(export_dir()), str(scores_path(tool)), *arguments]
    argv += ["--quick"] if quick else []
    measured = measure(argv, ml_bench_dir() / "logs" / f"{tool}.log", timeout, memory_limit)
    run = ModelRun(tool, measured.status, measured.wall_seconds, measured.peak_gb, detail=measured.detail)
    if run.status == "ok":
        facts = json.loads(scores_path(tool).with_suffix(".json").read_text())
        run.fit_seconds, run.params = facts["fit_seconds"], facts["params"]
        run.metrics = metrics(pd.read_parquet(scores_path(tool)))
    print(f"{tool:<8} {run.status:<7} {run.wall_seconds:>7.1f} s {run.peak_gb:>6.2f} GB {run.detail}", flush=True)
    return run


def ablation(params: dict, timeout: float, memory_limit: float) -> dict:
    """Our chosen estimator with its chosen params (its seed included) without each feature group."""
    path = ml_bench_dir() / "ablation.json"
    chosen = {"estimator": params["estimator"], "params": {k: v for k, v in params.items() if k != "estimator"}}
    argv = [sys.executable, "-m", "benchmarks.spark_ml_model", str(export_dir()), str(path)]
    argv += ["--ablation", json.dumps(chosen)]
    measured = measure(argv, ml_bench_dir() / "logs" / "ablation.log", timeout, memory_limit)
    if measured.status != "ok":
        raise LakehouseError(f"the ablation {measured.status}: {measured.detail}")
    return json.loads(path.read_text())


def label(run: ModelRun) -> str:
    """The tool's label, with the estimator ml/train.py chose where it chose one."""
    name = TOOLS[run.tool][0]
    return f"{name}: {run.params['estimator']}" if run.tool == OURS and "estimator" in run.params else name


def table(runs: list[ModelRun]) -> str:
    lines = [
        "| model | test ROC AUC | PR AUC | log loss | Brier | calibration gap | fit s | wall s | peak GB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        if run.status != "ok":
            lines.append(f"| {label(run)} | {run.status}: {run.detail} | | | | | | | |")
            continue
        values = [run.metrics[name] for name in ("roc_auc", "pr_auc", "log_loss", "brier", "calibration_gap")]
        lines.append(
            f"| {label(run)} | "
            + " | ".join(f"{value:.4f}" for value in values)
            + f" | {run.fit_seconds:.1f} | {run.wall_seconds:.1f} | {run.peak_gb:.2f} |"
        )
    return "\n".join(lines)


def ablation_table(results: dict) -> str:
    scores = results["validation_roc_auc"]
    full = scores["every feature used"]
    lines = ["| features | validation ROC AUC | change |", "|---|---|---|"]
    lines += [f"| {variant} | {auc:.4f} | {auc - full:+.4f} |" for variant, auc in scores.items()]
    return "\n".join(lines)


def roc_chart(runs: list[ModelRun], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    figure, (roc, calibration) = plt.subplots(1, 2, figsize=(11, 5))
    for run in runs:
        if run.status != "ok":
            continue
        scores = pd.read_parquet(scores_path(run.tool))
        labels, p = scores["label"].to_numpy(), scores[P_DELAYED].to_numpy()
        fpr, tpr, _ = roc_curve(labels, p)
        roc.plot(fpr, tpr, label=f"{label(run)} ({run.metrics['roc_auc']:.4f})")
        predicted, observed, _ = zip(*probability_bins(labels, p), strict=True)
        calibration.plot(predicted, observed, marker="o", label=label(run))
    roc.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, test months (Nov-Dec)")
    calibration.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    calibration.set(
        xlabel="predicted probability of delay", ylabel="observed delay rate", title="Calibration, test months"
    )
    for axis in (roc, calibration):
        axis.legend(loc="best", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--tools", nargs="+", choices=list(TOOLS), default=list(TOOLS))
    parser.add_argument("--ablation", action="store_true", help="then our pipeline without each feature group")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before a tool is stopped")
    parser.add_argument("--memory-limit-gb", type=float, default=20, help="peak tree memory before a tool is stopped")
    parser.add_argument("--validation-from", type=date.fromisoformat, help="first day tuned on (YYYY-MM-DD)")
    parser.add_argument("--test-from", type=date.fromisoformat, help="first day tested on (YYYY-MM-DD)")
    parser.add_argument("--quick", action="store_true", help="small grids and few trees, for smoke tests")
    parser.add_argument("--export-to", type=Path, help=argparse.SUPPRESS)  # the export step's own process
    args = parser.parse_args(argv)
    if args.export_to:
        export(args.export_to, args.validation_from, args.test_from)
        return
    export_dir().mkdir(parents=True, exist_ok=True)
    print("exporting flight_features (untimed)", flush=True)
    cut_offs = [
        f"--{name.replace('_', '-')}={value}"
        for name, value in (("validation_from", args.validation_from), ("test_from", args.test_from))
        if value
    ]
    argv = [sys.executable, "-m", "lakehouse.bench.ml_benchmark", "--export-to", str(export_dir()), *cut_offs]
    untimed(argv, "ml_export", "the export")
    memory_limit = args.memory_limit_gb * GB
    runs = [run_tool(tool, args.timeout, memory_limit, args.quick) for tool in args.tools]
    results = {"export": json.loads((export_dir() / "source.json").read_text()), "runs": [asdict(run) for run in runs]}
    print(table(runs))
    ours = next((run for run in runs if run.tool == OURS and run.status == "ok"), None)
    if args.ablation and ours:
        print("ablation: our pipeline without each feature group, validation months", flush=True)
        results["ablation"] = ablation(ours.params, args.timeout, memory_limit)
        print(ablation_table(results["ablation"]))
    (ml_bench_dir() / "results.json").write_text(json.dumps(results, indent=2, default=str))
    roc_chart(runs, ml_bench_dir() / "roc.png")
    print(f"results, scores and logs in {ml_bench_dir()}; the curves in {ml_bench_dir() / 'roc.png'}")


if __name__ == "__main__":
    main()
