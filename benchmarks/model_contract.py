"""What every model baseline reads and writes, so that the models are compared on the same rows and split.

Input: the folder `lakehouse bench-ml` exports once: features.parquet (flight_features at one Delta version,
the columns the model reads by their yml role, written by Spark) and split.json (the time split ml/train.py
takes on that table: train before `validation_from`, tune up to `test_from`, test up to `end`).
Output: one Parquet file of the test months' scores (the key, the label, p_delayed) and, beside it, a JSON file
with the fit seconds and the chosen parameters. Each tool tunes on the validation months only, then refits on
training and validation months together and scores the test months once, as ml/train.py does.
"""

import argparse
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from lakehouse.ml.evaluation import P_DELAYED
from lakehouse.project import feature_roles

ROLES = feature_roles()
LABEL = ROLES.label
FEATURES = ROLES.categorical + ROLES.numeric


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("input_dir", type=Path, help="the folder `lakehouse bench-ml` exported")
    parser.add_argument("output", type=Path, help="the Parquet file of test scores to write")
    parser.add_argument("--quick", action="store_true", help="one grid point and few trees, for smoke tests")
    return parser.parse_args()


@dataclass
class Periods:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame

    @property
    def history(self) -> pd.DataFrame:
        return pd.concat([self.train, self.validation])


def read_split(input_dir: Path) -> dict[str, date]:
    return {
        name: date.fromisoformat(value) for name, value in json.loads((input_dir / "split.json").read_text()).items()
    }


def read_periods(input_dir: Path) -> Periods:
    """The export as pandas, categoricals as pandas categories (every tool here takes them natively), cut in time."""
    frame = pd.read_parquet(input_dir / "features.parquet")
    for name in ROLES.categorical:
        frame[name] = frame[name].astype("category")
    frame[LABEL] = frame[LABEL].astype(int)
    split, day = read_split(input_dir), pd.to_datetime(frame[ROLES.split_time])
    validation_from, test_from, end = (pd.Timestamp(split[name]) for name in ("validation_from", "test_from", "end"))
    return Periods(
        frame[day < validation_from],
        frame[(day >= validation_from) & (day < test_from)],
        frame[(day >= test_from) & (day < end)],
    )


class FitClock:
    """Seconds spent fitting (tuning and refitting), not reading or scoring."""

    def __init__(self) -> None:
        self.seconds = 0.0

    @contextmanager
    def fitting(self):
        started = time.monotonic()
        yield
        self.seconds += time.monotonic() - started


def write_scores(output: Path, test: pd.DataFrame, p_delayed, clock: FitClock, params: dict) -> None:
    """The test months' scores (`test` holds the key and the label) and the fit's facts beside them."""
    output.parent.mkdir(parents=True, exist_ok=True)
    scores = pd.DataFrame(
        {ROLES.key: test[ROLES.key].to_numpy(), "label": test[LABEL].to_numpy(), P_DELAYED: p_delayed}
    )
    scores.to_parquet(output, index=False)
    facts = {"fit_seconds": round(clock.seconds, 1), "params": params}
    output.with_suffix(".json").write_text(json.dumps(facts, indent=2, default=str))
    print(f"{len(scores):,} test flights scored to {output}; fit {clock.seconds:.1f} s with {params}")
