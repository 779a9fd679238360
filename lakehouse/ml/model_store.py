"""Where trained models live: one folder per version under the state folder, a Spark PipelineModel plus a
metadata.json saying what it was trained on and how well it did."""

import json
from pathlib import Path

from pyspark.ml import PipelineModel

from lakehouse.errors import ModelMissingError
from lakehouse.paths import model_dir

MODEL_NAME = "flight_delay"


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


def save(model: PipelineModel, metadata: dict, version_dir: Path) -> Path:
    model.write().overwrite().save(str(version_dir / "pipeline"))
    (version_dir / "metadata.json").write_text(json.dumps(metadata, indent=2, sort_keys=True))
    return version_dir


def latest_version_dir() -> Path | None:
    """The newest complete version's folder, or None before the first training run."""
    versions = _versions(complete_only=True)
    return models_dir() / f"v{versions[-1]}" if versions else None


def read_metadata(version_dir: Path) -> dict:
    return json.loads((version_dir / "metadata.json").read_text())


def load_latest() -> tuple[PipelineModel, dict]:
    version_dir = latest_version_dir()
    if version_dir is None:
        raise ModelMissingError(f"no trained model in {models_dir()}: run `python ml/train.py` first")
    return PipelineModel.load(str(version_dir / "pipeline")), read_metadata(version_dir)
