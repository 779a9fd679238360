"""Where trained models live: one folder per version under the state folder, a Spark PipelineModel plus a
metadata.json saying what it was trained on and how well it did."""

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from lakehouse.errors import ModelMissingError

if TYPE_CHECKING:  # the scoring service reads the store without Spark
    from pyspark.ml import PipelineModel
from lakehouse.paths import model_dir

MODEL_NAME = "flight_delay"
# Beside the Spark model in each version's folder: the model as one ONNX graph, which `lakehouse serve` runs, and
# the name of the graph's output.
ONNX_FILE = "model.onnx"
ONNX_PROBABILITY = "delay_probability"


def models_dir() -> Path:
    return model_dir() / MODEL_NAME


def _versions(complete_only: bool) -> list[int]:
    """Version numbers of the vN folders; complete ones have their metadata.json (a failed run's do not)."""
    if not models_dir().is_dir():
        return []
    folders = [path for path in models_dir().glob("v*") if not complete_only or (path / "metadata.json").exists()]
    return sorted(int(path.name[1:]) for path in folders)


def next_version_dir() -> Path:
    """A new version folder, numbered past every earlier one, finished or not."""
    return models_dir() / f"v{(_versions(complete_only=False) or [0])[-1] + 1}"


def quiet_xgboost() -> None:
    """xgboost.spark logs every parameter at INFO on each fit and each prediction."""
    logging.getLogger("XGBoost-PySpark").setLevel(logging.WARNING)


def model_label(estimator: str) -> str:
    """The tuned model's name in its metadata's test_metrics, beside its baselines'."""
    return f"{estimator} (tuned)"


def save(model: "PipelineModel", metadata: dict, version_dir: Path) -> Path:
    model.write().overwrite().save(str(version_dir / "pipeline"))
    (version_dir / "metadata.json").write_text(json.dumps(metadata, indent=2, sort_keys=True))
    return version_dir


def latest_version_dir() -> Path | None:
    """The newest complete version's folder, or None before the first training run."""
    versions = _versions(complete_only=True)
    return models_dir() / f"v{versions[-1]}" if versions else None


def read_metadata(version_dir: Path) -> dict:
    return json.loads((version_dir / "metadata.json").read_text())


def chosen_version_dir(version: str | None = None) -> Path:
    """A complete version's folder by name (v3), or the newest one."""
    if version is None:
        latest = latest_version_dir()
        if latest is None:
            raise ModelMissingError(f"no trained model in {models_dir()}: run `python ml/train.py` first")
        return latest
    complete = [f"v{number}" for number in _versions(complete_only=True)]
    if version not in complete:
        raise ModelMissingError(
            f"no complete model version {version!r} in {models_dir()}: pick one of {', '.join(complete) or 'none'}"
            " (or train one with `python ml/train.py`)"
        )
    return models_dir() / version


def load(version: str | None = None) -> tuple["PipelineModel", dict]:
    """A version's Spark model and metadata (default: the newest)."""
    from pyspark.ml import PipelineModel

    version_dir = chosen_version_dir(version)
    quiet_xgboost()
    return PipelineModel.load(str(version_dir / "pipeline")), read_metadata(version_dir)
