"""scikit-learn's HistGradientBoostingClassifier on the exported features, as a data scientist would fit it:
native categorical support, missing values left to the model, the number of trees stopped early on the
validation months (the iteration with the best validation ROC AUC), a small grid over the learning rate and
the tree size tuned on the same months; then refitted on training and validation months and scored on the test
months.

    python -m benchmarks.sklearn_model EXPORT_DIR OUTPUT.parquet
"""

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from benchmarks.model_contract import FEATURES, LABEL, FitClock, parse_args, read_periods, write_scores

GRID = [{"learning_rate": rate, "max_leaf_nodes": leaves} for rate in (0.05, 0.1) for leaves in (31, 63)]
MAX_ITER = 600
SEED = 13


def classifier(**params) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        categorical_features="from_dtype", early_stopping=False, random_state=SEED, **params
    )


def main() -> None:
    args = parse_args(__doc__.strip().splitlines()[0])
    periods, clock = read_periods(args.input_dir), FitClock()
    # Its binning fails on a column without a value in the training months (a history feature in the first
    # month of a short timeline): such a column tells it nothing, so it is left out.
    features = [name for name in FEATURES if periods.train[name].notna().any()]
    best = None
    for params in GRID[:1] if args.quick else GRID:
        with clock.fitting():
            model = classifier(max_iter=50 if args.quick else MAX_ITER, **params).fit(
                periods.train[features], periods.train[LABEL]
            )
        # Early stopping on the validation months: the validation ROC AUC after each tree, the best count kept.
        aucs = [
            roc_auc_score(periods.validation[LABEL], staged[:, 1])
            for staged in model.staged_predict_proba(periods.validation[features])
        ]
        trees = int(np.argmax(aucs)) + 1
        print(f"{params}: validation ROC AUC {aucs[trees - 1]:.4f} at {trees} trees", flush=True)
        if best is None or aucs[trees - 1] > best[0]:
            best = (aucs[trees - 1], {**params, "max_iter": trees})
    with clock.fitting():
        model = classifier(**best[1]).fit(periods.history[features], periods.history[LABEL])
    write_scores(args.output, periods.test, model.predict_proba(periods.test[features])[:, 1], clock, best[1])


if __name__ == "__main__":
    main()
