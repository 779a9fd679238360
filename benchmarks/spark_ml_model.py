"""Our Spark ML pipeline on the exported features: ml/train.py's own fit (the same preparation, candidates,
grids, tuning on the validation months and refit), reading the export instead of the Delta table, and nothing
else (no baselines, no model store), in the spark-sql baseline's bare session: the project's Spark
configuration without its catalog, which reading Parquet does not need.

    python -m benchmarks.spark_ml_model EXPORT_DIR OUTPUT.parquet [--estimator GBT|XGBoost] [--quick]
    python -m benchmarks.spark_ml_model EXPORT_DIR ABLATION.json --ablation CHOSEN_JSON

With --ablation: no tuning and no test months. The chosen estimator with its chosen params (CHOSEN_JSON, e.g.
'{"estimator": "XGBoost", "params": {"max_depth": 6}}') is fitted on the training months with every feature,
then without each group of features (the `from` of their yml meta), then with each group of features tried and
left out (meta tried_as), and each fit's validation ROC AUC is written: a group whose removal raises it, or
whose return does not, does not help.
"""

import argparse
import json
from pathlib import Path

from benchmarks.model_contract import FitClock, read_split, write_scores
from benchmarks.spark_sql_features import bare_session
from lakehouse.ml import evaluation, training
from lakehouse.ml.features import Split
from lakehouse.project import FEATURES_MODEL, column_meta, feature_roles
from ml import train


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("input_dir", type=Path, help="the folder `lakehouse bench-ml` exported")
    parser.add_argument("output", type=Path, help="the Parquet file of test scores (with --ablation: a JSON file)")
    parser.add_argument("--estimator", choices=[train.GBT, train.XGBOOST], help="ml/train.py's --estimator")
    parser.add_argument("--quick", action="store_true", help="ml/train.py's --quick grid")
    parser.add_argument("--ablation", type=json.loads, metavar="CHOSEN_JSON", help="the estimator and its params")
    return parser.parse_args()


def feature_groups(names: list[str]) -> dict[str, list[str]]:
    """These features by where they come from (their meta `from`), in the yml's order."""
    groups = {}
    for name, meta in column_meta(FEATURES_MODEL).items():
        if name in names:
            groups.setdefault(meta["from"], []).append(name)
    return groups


def ablation(data: training.TrainingData, chosen: dict, output: Path) -> None:
    """Every feature the model uses; then without each group of them; then with each group tried and left out."""
    progress, roles = training.Progress(), feature_roles()
    [(classifier, _)] = train.candidates(quick=False, only=chosen["estimator"]).values()
    params = {classifier.getParam(name): value for name, value in chosen["params"].items()}
    variants = {"every feature used": roles}
    variants |= {
        f"without {group}": roles.without(names)
        for group, names in feature_groups(roles.numeric + roles.categorical).items()
    }
    variants |= {
        f"with {group} (tried)": roles.with_tried(names) for group, names in feature_groups(roles.tried).items()
    }
    results = {}
    for variant, variant_roles in variants.items():
        fitted, rows = training.prepared(train.preparation(variant_roles), data.train)
        model = training.with_preparation(fitted, classifier.fit(rows, params))
        rows.unpersist()
        results[variant] = evaluation.roc_auc(evaluation.from_model(model.transform(data.validation)))
        progress(f"{variant}: validation ROC AUC {results[variant]:.4f}")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({**chosen, "validation_roc_auc": results}, indent=2))


def main() -> None:
    args = parse_args()
    spark = bare_session("benchmark-spark-ml")
    features = spark.read.parquet(str(args.input_dir / "features.parquet"))
    split = Split(**read_split(args.input_dir))
    if args.ablation is not None:
        data = training.split_data(features, "the export", None, 0, split, feature_roles().with_tried())
        ablation(data, args.ablation, args.output)
        return
    data = training.split_data(features, "the export", None, 0, split)
    clock = FitClock()
    with clock.fitting():
        model, tuned, _ = train.fit(data, args.quick, training.Progress(), with_baselines=False, only=args.estimator)
    key, label = feature_roles().key, feature_roles().label
    scored = evaluation.from_model(model.transform(data.test)).select(key, "label", evaluation.P_DELAYED)
    test = scored.toPandas().rename(columns={"label": label})
    params = {"estimator": tuned.estimator, **tuned.params}
    write_scores(args.output, test, test[evaluation.P_DELAYED].to_numpy(), clock, params)


if __name__ == "__main__":
    main()
