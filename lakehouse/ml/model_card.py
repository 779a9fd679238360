"""A model card, written beside each model version (and logged with its MLflow run): what it learned from, how it
was split and tested, against what, how far its probabilities can be read as probabilities, and how to train
it again. Written from the version's metadata alone, so it says nothing metadata.json does not."""

from pathlib import Path

CARD_FILE = "model_card.md"


def write(metadata: dict, version_dir: Path) -> Path:
    path = version_dir / CARD_FILE
    path.write_text(render(metadata))
    return path


def render(metadata: dict) -> str:
    split, roles, chosen = metadata["split"], metadata["feature_columns"], f"{metadata['estimator']} (tuned)"
    tested = metadata["test_metrics"][chosen]
    deciles = metadata["calibration_by_decile"]
    largest_gap = max(abs(decile["predicted"] - decile["observed"]) for decile in deciles)
    copies = f" --copies {metadata['copies']}" if metadata.get("copies") else ""
    lines = [
        f"# Model card: flight delay, {metadata['model_version']}",
        "",
        f"Predicts the probability that a flight leaves more than the project's delay threshold late "
        f"(`{roles['label']}`). {metadata['estimator']}, trained {metadata['trained_at']} at git commit "
        f"{metadata.get('git_commit') or 'unknown'}; parameters {metadata['params']}.",
        "",
        "## Data and split",
        f"- `{metadata['features_table']}` at Delta version {metadata['features_delta_version']}, one row per flight.",
        f"- Trained on flights before {split['validation_from']}, tuned (the estimator, its grid and the "
        f"threshold {metadata['threshold']:.2f}) on {split['validation_from']} to {split['test_from']}, tested "
        f"once on {split['test_from']} to {split['end']} (by `{roles['split_time']}`).",
        f"- Features taken {metadata['prediction_lead_minutes']} minutes before each flight's scheduled departure "
        f"(`{roles['as_of']}`): every history feature counts only what had happened by then, so the model can "
        "answer that long before the flight leaves.",
        "",
        "## Features",
        f"- categorical: {', '.join(roles['categorical'])}",
        f"- numeric: {', '.join(roles['numeric'])}",
        f"- null means none, so 0: {', '.join(roles['zero_when_null'])}",
        f"- tried and left out: {', '.join(roles.get('tried', [])) or 'none'}",
        "",
        "## Test metrics, against the baselines",
        "| model | ROC AUC | PR AUC | Brier | log loss | precision | recall |",
        "|---|---|---|---|---|---|---|",
        *[
            f"| {name} | {values['roc_auc']:.4f} | {values['pr_auc']:.4f} | {values['brier']:.4f} | "
            f"{values['log_loss']:.4f} | {values['precision']:.4f} | {values['recall']:.4f} |"
            for name, values in metadata["test_metrics"].items()
        ],
        "",
        f"## Calibration by decile ({chosen}, test period)",
        "| decile | flights | mean predicted | observed delay rate |",
        "|---|---|---|---|",
        *[
            f"| {number} | {decile['flights']:,} | {decile['predicted']:.3f} | {decile['observed']:.3f} |"
            for number, decile in enumerate(deciles, start=1)
        ],
        "",
        "## Known limits",
        f"- The probabilities are the estimator's own, not recalibrated: the largest gap between a decile's mean "
        f"predicted probability and its observed delay rate is {largest_gap:.3f}. The test period's delay rate "
        f"is {tested['base_rate']:.3f}; delay rates move with the season, so a calibrator fitted on one month "
        "can miss another's.",
        "- flight_features holds departed flights only, so batch scoring answers for flights that have left; a "
        "flight still at the gate has no features there yet.",
        "",
        "## Reproduce",
        "```sh",
        f"python ml/train.py --as-of-version {metadata['features_delta_version']}{copies} "
        f"--validation-from {split['validation_from']} --test-from {split['test_from']} "
        f"--estimator {metadata['estimator']}",
        "```",
        "(with `--quick` if it was trained on the one-point grid; the parameters above are what its grid chose)",
        "",
    ]
    return "\n".join(lines)
