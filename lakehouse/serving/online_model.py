"""A saved model version as the scoring service runs it: its ONNX graph in onnxruntime, and the checks a request's
fields must pass. No Spark, no JVM: this module imports neither.

A request is one flight's features by flight_features column name, every column the model reads present: a
categorical is a string or null, a numeric a finite number or null (null means what it means in the table:
missing, filled as in training). Other fields (flight_id, the label, ...) are ignored.
"""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime

from lakehouse.errors import ModelMissingError
from lakehouse.ml import model_store
from lakehouse.project import UNKNOWN_CATEGORY

FLOAT32_MAX = float(np.finfo(np.float32).max)  # the trees read float32: anything larger has no meaning to them


class InvalidFlight(ValueError):
    """A request field the model cannot read: `field` is its name (with the flight's position in a batch)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


@dataclass(frozen=True)
class OnlineModel:
    version: str
    metadata: dict
    categorical: list[str]
    numeric: list[str]
    session: onnxruntime.InferenceSession

    @classmethod
    def load(cls, version: str | None = None) -> "OnlineModel":
        """A version of the model store (default: the newest), from its model.onnx."""
        version_dir = model_store.chosen_version_dir(version)
        metadata = model_store.read_metadata(version_dir)
        path = version_dir / model_store.ONNX_FILE
        if not path.exists():
            raise ModelMissingError(
                f"model {version_dir.name} has no {model_store.ONNX_FILE}: run `lakehouse export-onnx --model-version"
                f" {version_dir.name}` (models trained before the service existed), then serve again"
            )
        roles = metadata["feature_columns"]
        return cls(version_dir.name, metadata, roles["categorical"], roles["numeric"], session(path))

    @property
    def fields(self) -> list[str]:
        return self.categorical + self.numeric

    def validated(self, flight: object, where: str = "") -> dict:
        """The model's fields of one request body, checked; raises InvalidFlight naming the first bad one."""
        if not isinstance(flight, dict):
            raise InvalidFlight(where or "body", f"expected a JSON object of features, got {json_type(flight)}")
        for name in self.fields:
            if name not in flight:
                raise InvalidFlight(f"{where}{name}", "missing (send null when it is unknown)")
            value = flight[name]
            if value is None:
                continue
            if name in self.categorical:
                if not isinstance(value, str):
                    raise InvalidFlight(f"{where}{name}", f"expected a string or null, got {json_type(value)}")
            elif isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidFlight(f"{where}{name}", f"expected a number or null, got {json_type(value)}")
            elif not math.isfinite(value) or abs(value) > FLOAT32_MAX:
                raise InvalidFlight(f"{where}{name}", f"{value} is out of range (a finite number below 3.4e38)")
        return flight

    def probabilities(self, flights: list[dict]) -> list[float]:
        """The delay probability of each validated flight, as the batch scores give it."""
        inputs = {
            name: np.array(
                [[UNKNOWN_CATEGORY if flight[name] is None else flight[name]] for flight in flights], dtype=object
            )
            for name in self.categorical
        }
        for name in self.numeric:
            inputs[name] = np.array(
                [[math.nan if flight[name] is None else flight[name]] for flight in flights], dtype=np.float64
            )
        (probability,) = self.session.run([model_store.ONNX_PROBABILITY], inputs)
        return probability.astype(np.float64).tolist()

    def describe(self) -> dict:
        """What GET /model answers: the version, what it learned from and how it tested."""
        metadata = self.metadata
        return {
            "model_version": self.version,
            "estimator": metadata.get("estimator"),
            "trained_at": metadata["trained_at"],
            "features_table": metadata["features_table"],
            "features_delta_version": metadata["features_delta_version"],
            "split": metadata["split"],
            "threshold": metadata["threshold"],
            "test_metrics": metadata["test_metrics"],
            "fields": {"categorical": self.categorical, "numeric": self.numeric},
        }


def session(path: Path) -> onnxruntime.InferenceSession:
    """One thread per run: a request is one row, and the service's own event loop takes the other core."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def json_type(value: object) -> str:
    names = {type(None): "null", bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    return {list: "an array", dict: "an object"}.get(type(value)) or names.get(type(value), type(value).__name__)
