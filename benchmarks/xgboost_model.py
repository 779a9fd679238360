"""XGBoost (its plain Python API, histogram trees on 2 threads) on the exported features: native categorical
support, early stopping on the validation months' ROC AUC (the last of `eval_metric`), a small grid over the
depth and the learning rate tuned on the same; then refitted on training and validation months with the chosen
number of rounds and scored on the test months.

    python -m benchmarks.xgboost_model EXPORT_DIR OUTPUT.parquet
"""

import os

import xgboost as xgb

from benchmarks.model_contract import FEATURES, LABEL, FitClock, parse_args, read_periods, write_scores

GRID = [{"max_depth": depth, "eta": eta} for depth in (6, 8) for eta in (0.05, 0.1)]
FIXED = {
    "objective": "binary:logistic",
    "eval_metric": ["logloss", "auc"],
    "tree_method": "hist",
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 5,
    "nthread": os.cpu_count(),
    "seed": 13,
}
MAX_ROUNDS = 2000
EARLY_STOPPING_ROUNDS = 50


def matrix(rows) -> xgb.DMatrix:
    return xgb.DMatrix(rows[FEATURES], label=rows[LABEL], enable_categorical=True)


def main() -> None:
    args = parse_args(__doc__.strip().splitlines()[0])
    periods, clock = read_periods(args.input_dir), FitClock()
    train, validation, test = matrix(periods.train), matrix(periods.validation), matrix(periods.test)
    best = None
    for params in GRID[:1] if args.quick else GRID:
        with clock.fitting():
            booster = xgb.train(
                {**FIXED, **params},
                train,
                num_boost_round=50 if args.quick else MAX_ROUNDS,
                evals=[(validation, "validation")],
                early_stopping_rounds=EARLY_STOPPING_ROUNDS,
                verbose_eval=False,
            )
        rounds = booster.best_iteration + 1
        auc = booster.best_score  # the validation ROC AUC at the best round
        print(f"{params}: validation ROC AUC {auc:.4f} at {rounds} rounds", flush=True)
        if best is None or auc > best[0]:
            best = (auc, params, rounds)
    _, params, rounds = best
    with clock.fitting():
        booster = xgb.train({**FIXED, **params}, matrix(periods.history), num_boost_round=rounds)
    write_scores(args.output, periods.test, booster.predict(test), clock, {**params, "rounds": rounds})


if __name__ == "__main__":
    main()
